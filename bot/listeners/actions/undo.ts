import type { App, BlockAction, ButtonAction } from "@slack/bolt";
import { UNDO_ACTION_ID } from "../../blocks/follow-up.ts";
import type { BotServices } from "../../deps.ts";
import { handleUndoClick } from "../../handlers/undo.ts";

export function register(app: App, services: BotServices): void {
  app.action<BlockAction<ButtonAction>>(UNDO_ACTION_ID, async ({ ack, body, action, client }) => {
    await ack();
    const channel = body.channel?.id ?? body.container?.channel_id;
    const messageTs = body.message?.ts ?? body.container?.message_ts;
    if (!channel || !messageTs) return;
    const teamId = body.user.team_id ?? body.team?.id;
    services.tasks.run("undo", () =>
      handleUndoClick(services, client, {
        actionId: action.value ?? "",
        user: { kind: "slack", id: body.user.id, ...(teamId ? { teamId } : {}) },
        channel,
        messageTs,
        threadTs: (body.message?.thread_ts as string | undefined) ?? body.container?.thread_ts,
        clickKey: `${body.user.id}:${action.action_id}:${action.value ?? ""}:${action.action_ts}`,
      }),
    );
  });
}
