import type { App } from "@slack/bolt";
import type { BotServices } from "../../deps.ts";
import { answerQuestion } from "../../handlers/question.ts";
import { slackTextToPlain } from "../../slack-text.ts";

/** `@Deputy why is checkout crashing?` in a channel: answer in the message's thread. */
export function register(app: App, services: BotServices): void {
  app.event("app_mention", async ({ event, body, context, client }) => {
    if (!event.user) return;
    const teamId = event.team ?? body.team_id;
    const question = {
      requester: { kind: "slack" as const, id: event.user, teamId },
      conversation: {
        surface: "slack" as const,
        teamId,
        channel: event.channel,
        thread: event.thread_ts ?? event.ts,
      },
      text: slackTextToPlain(event.text, context.botUserId),
    };
    services.tasks.run("app_mention", () => answerQuestion(services, client, question));
  });
}
