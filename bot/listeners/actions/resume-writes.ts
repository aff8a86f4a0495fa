import type { App, BlockAction, ButtonAction } from "@slack/bolt";
import { RESUME_WRITES_ACTION_ID } from "../../unprompted.ts";
import type { BotServices } from "../../deps.ts";

/** The Resume writes button on a write-pause alert: same rules as `/deputy resume-writes`. */
export function register(app: App, services: BotServices): void {
  app.action<BlockAction<ButtonAction>>(RESUME_WRITES_ACTION_ID, async ({ ack, body, client }) => {
    await ack();
    const channel = body.channel?.id ?? body.container?.channel_id;
    const messageTs = body.message?.ts ?? body.container?.message_ts;
    if (!channel || !messageTs) return;
    const teamId = body.user.team_id ?? body.team?.id;
    services.tasks.run("resume_writes", async () => {
      const result = await services.writePause.resume({
        kind: "slack",
        id: body.user.id,
        ...(teamId ? { teamId } : {}),
      });
      if (result.resumed) {
        await client.chat.postMessage({ channel, thread_ts: messageTs, text: result.text });
      } else {
        await client.chat.postEphemeral({ channel, user: body.user.id, text: result.text });
      }
    });
  });
}
