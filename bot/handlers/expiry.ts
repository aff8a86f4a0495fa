import type { webApi } from "@slack/bolt";
import { describeError } from "../../core/errors.ts";
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
    const { action } = card;
    const target = `${action.target.kind} ${action.target.namespace ? `${action.target.namespace}/` : ""}${action.target.name}`;
    try {
      await client.chat.update({
        channel: card.channel,
        ts: card.ts,
        text: sanitizePlain(`${action.tool}: expired`),
        blocks: decidedCardBlocks({ ...action, state: "expired" }),
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
      services.logger.warn(
        { actionId: action.id, err: describeError(error) },
        "could not mark an expired card",
      );
    }
  }
  return expired.length;
}
