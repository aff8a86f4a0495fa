import type { App, MessageShortcut } from "@slack/bolt";
import type { BotServices } from "../../deps.ts";
import { askAboutMessage } from "../../handlers/ask-about-message.ts";

/** The message shortcut's callback id, as declared in the app manifest. */
export const ASK_ABOUT_MESSAGE_CALLBACK_ID = "deputy_ask_about_message";

export function register(app: App, services: BotServices): void {
  app.shortcut<MessageShortcut>(
    { type: "message_action", callback_id: ASK_ABOUT_MESSAGE_CALLBACK_ID },
    async ({ shortcut, ack, client, respond, context }) => {
      await ack();
      const teamId = shortcut.user.team_id ?? shortcut.team?.id;
      const message = shortcut.message as {
        ts: string;
        thread_ts?: string;
        text?: string;
        user?: string;
        bot_id?: string;
      };
      services.tasks.run("ask_about_message", () =>
        askAboutMessage(
          services,
          client,
          {
            requester: { kind: "slack", id: shortcut.user.id, ...(teamId ? { teamId } : {}) },
            subject: {
              channel: shortcut.channel.id,
              ts: message.ts,
              threadTs: message.thread_ts,
              author: message.user ?? message.bot_id,
              text: message.text ?? "",
            },
            botUserId: context.botUserId,
          },
          (text) => respond({ response_type: "ephemeral", text }),
        ),
      );
    },
  );
}
