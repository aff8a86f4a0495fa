import type { App } from "@slack/bolt";
import type { BotServices } from "../../deps.ts";
import { answerQuestion } from "../../handlers/question.ts";
import { slackTextToPlain } from "../../slack-text.ts";

/** A direct message to Deputy: same as a mention, in the DM's thread. */
export function register(app: App, services: BotServices): void {
  app.event("message", async ({ event, body, context, client }) => {
    // Only plain user messages in a DM; edits, joins and bot posts carry a subtype.
    if (event.channel_type !== "im" || event.subtype !== undefined || !("user" in event) || !event.user)
      return;
    if ("bot_id" in event && event.bot_id) return;
    const teamId = ("team" in event ? event.team : undefined) ?? body.team_id;
    const question = {
      requester: { kind: "slack" as const, id: event.user, teamId },
      conversation: {
        surface: "slack" as const,
        teamId,
        channel: event.channel,
        thread: event.thread_ts ?? event.ts,
      },
      text: slackTextToPlain(event.text ?? "", context.botUserId),
    };
    services.tasks.run("direct_message", () => answerQuestion(services, client, question));
  });
}
