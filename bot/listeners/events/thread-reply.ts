import type { App } from "@slack/bolt";
import { identityKey } from "../../../core/identity.ts";
import type { BotServices } from "../../deps.ts";
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
      const record = await services.conversations.load(conversation);
      if (record.messages.length === 0 || !record.participants.includes(identityKey(requester))) return;
      await answerQuestion(services, client, {
        requester,
        conversation,
        text: slackTextToPlain(raw, context.botUserId),
      });
    });
  });
}
