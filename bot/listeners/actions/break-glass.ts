import type { App, BlockAction, ButtonAction, ViewSubmitAction } from "@slack/bolt";
import { ACTION_ID_PATTERN } from "../../../core/actions/schema.ts";
import { describeError } from "../../../core/errors.ts";
import {
  BREAK_GLASS_ACTION_ID,
  BREAK_GLASS_REASON_BLOCK,
  BREAK_GLASS_REASON_INPUT,
  BREAK_GLASS_VIEW_ID,
  breakGlassModal,
  parseDecisionValue,
  type BreakGlassOrigin,
} from "../../blocks/approval-card.ts";
import type { BotServices } from "../../deps.ts";
import { handleDecisionClick } from "../../handlers/decision.ts";
import { sanitizePlain } from "../../sanitize.ts";

/**
 * Break glass: the card's button opens a modal asking why the change cannot
 * wait; submitting it is an approval carrying that reason. Whether the
 * person may break glass, and whether the reason will do, is the executor's
 * to decide; the modal only makes the reason impossible to forget.
 */
export function register(app: App, services: BotServices): void {
  app.action<BlockAction<ButtonAction>>(BREAK_GLASS_ACTION_ID, async ({ ack, body, action, client }) => {
    await ack();
    const channel = body.channel?.id ?? body.container?.channel_id;
    const messageTs = body.message?.ts ?? body.container?.message_ts;
    const { actionId } = parseDecisionValue(action.value ?? "");
    if (!channel || !messageTs) return;
    const explain = (text: string): Promise<unknown> =>
      client.chat.postEphemeral({ channel, user: body.user.id, text: sanitizePlain(text) });
    try {
      const stored = ACTION_ID_PATTERN.test(actionId) ? await services.actions.get(actionId) : undefined;
      if (!stored) {
        await explain(`Action ${actionId} is no longer stored; nothing can be approved from this card.`);
        return;
      }
      const origin: BreakGlassOrigin = {
        value: action.value ?? "",
        channel,
        messageTs,
        threadTs: (body.message?.thread_ts as string | undefined) ?? body.container?.thread_ts,
      };
      await client.views.open({ trigger_id: body.trigger_id, view: breakGlassModal(stored, origin) });
    } catch (error) {
      services.logger.warn({ actionId, err: describeError(error) }, "break-glass modal failed");
      await explain(`I could not open the break-glass form: ${describeError(error)}`).catch(() => undefined);
    }
  });

  app.view<ViewSubmitAction>(BREAK_GLASS_VIEW_ID, async ({ ack, body, view, client }) => {
    const reason = (
      view.state.values[BREAK_GLASS_REASON_BLOCK]?.[BREAK_GLASS_REASON_INPUT]?.value ?? ""
    ).trim();
    if (reason.length < 3) {
      await ack({
        response_action: "errors",
        errors: { [BREAK_GLASS_REASON_BLOCK]: "Say why this cannot wait for the usual approvers." },
      });
      return;
    }
    await ack();
    let origin: BreakGlassOrigin;
    try {
      origin = JSON.parse(view.private_metadata) as BreakGlassOrigin;
    } catch {
      services.logger.warn("break-glass modal without its origin");
      return;
    }
    const { actionId, digest } = parseDecisionValue(origin.value);
    const teamId = body.user.team_id ?? body.team?.id;
    services.tasks.run("break_glass", () =>
      handleDecisionClick(services, client, {
        decision: "approve",
        actionId,
        digest,
        approver: { kind: "slack", id: body.user.id, ...(teamId ? { teamId } : {}) },
        channel: origin.channel,
        messageTs: origin.messageTs,
        threadTs: origin.threadTs,
        clickKey: `${body.user.id}:${BREAK_GLASS_VIEW_ID}:${origin.value}:${body.trigger_id}`,
        breakGlass: reason.slice(0, 500),
      }),
    );
  });
}
