import type { App, BlockAction, ButtonAction } from "@slack/bolt";
import { PROPOSE_SAME_FIX_ACTION_ID, TIMELINE_ACTION_ID } from "../../blocks/memory.ts";
import { handleProposeSameFix } from "../../handlers/propose-same-fix.ts";
import { postTimeline } from "../../handlers/timeline.ts";
import { sanitizePlain } from "../../sanitize.ts";

/** The listeners' services, as the handlers take them (passed in, never imported). */
type Services = Parameters<typeof handleProposeSameFix>[0];

/** "Propose the same fix" under a recalled fix, and "Timeline" on a resolved alert. */
export function register(app: App, services: Services): void {
  app.action<BlockAction<ButtonAction>>(PROPOSE_SAME_FIX_ACTION_ID, async ({ ack, body, action, client }) => {
    await ack();
    const channel = body.channel?.id ?? body.container?.channel_id;
    const messageTs = body.message?.ts ?? body.container?.message_ts;
    if (!channel || !messageTs) return;
    const teamId = body.user.team_id ?? body.team?.id;
    services.tasks.run("propose_same_fix", () =>
      handleProposeSameFix(services, client, {
        fixId: action.value ?? "",
        user: { kind: "slack", id: body.user.id, ...(teamId ? { teamId } : {}) },
        channel,
        messageTs,
        threadTs: (body.message?.thread_ts as string | undefined) ?? body.container?.thread_ts,
        clickKey: `${body.user.id}:${action.action_id}:${action.value ?? ""}:${action.action_ts}`,
      }),
    );
  });

  app.action<BlockAction<ButtonAction>>(TIMELINE_ACTION_ID, async ({ ack, body, action, client }) => {
    await ack();
    const channel = body.channel?.id ?? body.container?.channel_id;
    const messageTs = body.message?.ts ?? body.container?.message_ts;
    if (!channel || !messageTs) return;
    const teamId = body.user.team_id ?? body.team?.id;
    const user = { kind: "slack" as const, id: body.user.id, ...(teamId ? { teamId } : {}) };
    // The thread is the one the button's message starts (or is in), never one the value names.
    const thread = (body.message?.thread_ts as string | undefined) ?? body.container?.thread_ts ?? messageTs;
    const clickKey = `${body.user.id}:${action.action_id}:${messageTs}:${action.action_ts}`;
    services.tasks.run("timeline", async () => {
      if (!(await services.deduper.claim("interaction", clickKey))) return;
      const conversation = { surface: "slack" as const, ...(teamId ? { teamId } : {}), channel, thread };
      const refusal = await services.access.memberRefusal(user, conversation, user);
      if (refusal) {
        await client.chat.postEphemeral({
          channel,
          user: user.id,
          text: `:no_entry: ${sanitizePlain(refusal)}`,
          thread_ts: thread,
        });
        return;
      }
      await postTimeline(services, client, {
        requester: user,
        conversation,
        thread: { channel, ts: thread },
      });
    });
  });
}
