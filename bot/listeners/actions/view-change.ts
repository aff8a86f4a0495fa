import type { App, BlockAction, ButtonAction } from "@slack/bolt";
import { ACTION_ID_PATTERN } from "../../../core/actions/schema.ts";
import { approvalViewOf } from "../../../core/actions/view.ts";
import { describeError } from "../../../core/errors.ts";
import { fullChangeModal, VIEW_CHANGE_ACTION_ID } from "../../blocks/approval-card.ts";
import type { BotServices } from "../../deps.ts";
import { sanitizePlain } from "../../sanitize.ts";

/**
 * "View full change" on a card too long to show whole: a modal with every
 * line of the stored action's view. Opened at once (trigger ids live 3 s);
 * the text comes from the store, verified, like the card itself.
 */
export function register(app: App, services: BotServices): void {
  app.action<BlockAction<ButtonAction>>(VIEW_CHANGE_ACTION_ID, async ({ ack, body, action, client }) => {
    await ack();
    const actionId = action.value ?? "";
    const channel = body.channel?.id ?? body.container?.channel_id;
    const explain = async (text: string): Promise<void> => {
      if (channel)
        await client.chat.postEphemeral({ channel, user: body.user.id, text: sanitizePlain(text) });
    };
    try {
      if (!ACTION_ID_PATTERN.test(actionId)) {
        await explain("This button does not carry a valid Deputy action id.");
        return;
      }
      const stored = await services.actions.get(actionId);
      if (!stored) {
        await explain(`Action ${actionId} is no longer stored; nothing can be approved from this card.`);
        return;
      }
      await client.views.open({
        trigger_id: body.trigger_id,
        view: fullChangeModal(stored, approvalViewOf(stored)),
      });
    } catch (error) {
      services.logger.warn({ actionId, err: describeError(error) }, "full change view failed");
      await explain(`I could not show the full change: ${describeError(error)}`).catch(() => undefined);
    }
  });
}
