import type { App, webApi } from "@slack/bolt";
import { describeError } from "../../../core/errors.ts";
import { identityKey, type ConversationRef } from "../../../core/identity/identity.ts";
import type { ConversationRecord } from "../../conversation-store.ts";
import type { BotServices } from "../../deps.ts";
import { questionFailed } from "../../failure-text.ts";
import { sanitizePlain } from "../../sanitize.ts";
import { answerQuestion } from "../../handlers/question.ts";
import { slackTextToPlain } from "../../slack-text.ts";

/**
 * A follow-up in a thread Deputy is already part of, without a new mention,
 * from someone who asked Deputy something in that thread (others talking to
 * each other are left alone; they can mention Deputy). Messages that mention
 * Deputy are left to the app_mention listener so one message never starts
 * two turns.
 */
export function register(app: App, services: BotServices): void {
  app.event("message", async ({ event, body, context, client }) => {
    if (event.channel_type === "im" || event.subtype !== undefined || !("user" in event) || !event.user)
      return;
    if ("bot_id" in event && event.bot_id) return;
    const threadTs = "thread_ts" in event ? event.thread_ts : undefined;
    if (!threadTs || threadTs === event.ts) return;
    const raw = event.text ?? "";
    if (context.botUserId && raw.includes(`<@${context.botUserId}`)) return;
    const teamId = ("team" in event ? event.team : undefined) ?? body.team_id;
    const conversation = { surface: "slack" as const, teamId, channel: event.channel, thread: threadTs };
    const user = event.user;
    services.tasks.run("thread_reply", async () => {
      const requester = { kind: "slack" as const, id: user, teamId };
      let record: ConversationRecord;
      try {
        record = await services.conversations.load(conversation);
      } catch (error) {
        services.logger.error({ conversation, err: describeError(error) }, "thread history unavailable");
        // Without the history we cannot tell who Deputy talks to here; Slack can tell
        // whether Deputy is in this thread at all, and only then is a reply expected.
        if (await deputyIsInThread(client, conversation, context.botUserId))
          await client.chat.postMessage({
            channel: conversation.channel,
            thread_ts: conversation.thread,
            text: sanitizePlain(questionFailed(error)),
          });
        return;
      }
      if (record.messages.length === 0 || !record.participants.includes(identityKey(requester))) return;
      await answerQuestion(services, client, {
        requester,
        conversation,
        text: slackTextToPlain(raw, context.botUserId),
      });
    });
  });
}

async function deputyIsInThread(
  client: webApi.WebClient,
  conversation: ConversationRef,
  botUserId: string | undefined,
): Promise<boolean> {
  if (!botUserId) return false;
  const replies = await client.conversations.replies({
    channel: conversation.channel,
    ts: conversation.thread,
    limit: 200,
  });
  return (replies.messages ?? []).some((message) => message.user === botUserId);
}
