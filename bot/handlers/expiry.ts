import type { webApi } from "@slack/bolt";
import { describeError } from "../../core/errors.ts";
import { describeTarget } from "../../core/actions/action-type.ts";
import { approvalViewOf } from "../../core/actions/view.ts";
import { decidedCardBlocks } from "../blocks/approval-card.ts";
import type { BotServices } from "../deps.ts";
import { sanitizePlain } from "../sanitize.ts";

/**
 * Cards whose action expired without a decision: buttons replaced by
 * "expired", a line in the thread, and a note for the agent. Returns how many
 * cards this replica updated.
 */
export async function sweepExpiredCards(
  services: BotServices,
  client: webApi.WebClient,
  now = Date.now(),
): Promise<number> {
  const expired = await services.cards.claimExpired(now);
  for (const card of expired) {
    const ref = card.action;
    try {
      const action = await services.actions.get(ref.id);
      if (!action) continue;
      // Tell what is known: an action that was approved and began running did not expire.
      if (action.state !== "pending" && action.state !== "expired") {
        services.logger.info(
          { actionId: ref.id, state: action.state },
          "card not marked expired: action was decided",
        );
        continue;
      }
      const expiredAction = { ...action, state: "expired" as const };
      const target = describeTarget(action.target);
      await client.chat.update({
        channel: card.channel,
        ts: card.ts,
        text: sanitizePlain(`${action.tool}: expired`),
        blocks: decidedCardBlocks(expiredAction, approvalViewOf(action)),
      });
      await client.chat.postMessage({
        channel: card.channel,
        thread_ts: card.conversation.thread,
        text: sanitizePlain(
          `${action.tool} on ${target} expired without a decision; nothing was changed. Ask again if it is still needed.`,
        ),
      });
      await services.conversations.addNote(
        card.conversation,
        `Action ${action.id} (${action.tool} on ${target}) expired without a decision; nothing was changed.`,
      );
    } catch (error) {
      services.logger.warn({ actionId: ref.id, err: describeError(error) }, "could not mark an expired card");
    }
  }
  return expired.length;
}
