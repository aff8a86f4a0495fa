import type { webApi } from "@slack/bolt";
import type { ActionNotice } from "../../core/actions/notices.ts";
import { approvalViewOf } from "../../core/actions/view.ts";
import { describeError } from "../../core/errors.ts";
import { decidedCardBlocks, decisionLine } from "../blocks/approval-card.ts";
import type { BotServices } from "../deps.ts";
import { sanitizePlain } from "../sanitize.ts";

/**
 * A notice about an action decided earlier (an executor stopped mid-run and
 * another marked it interrupted, or a run ended after the bot stopped waiting
 * for its answer): the card shows the final state, the thread says what was
 * and was not done, and the agent reads it on its next turn.
 */
export async function deliverActionNotice(
  services: BotServices,
  client: webApi.WebClient,
  notice: ActionNotice,
): Promise<void> {
  const action = await services.actions.get(notice.actionId);
  if (!action) return;
  const card = await services.cards.locate(action.id);
  const conversation = action.conversation?.surface === "slack" ? action.conversation : card?.conversation;
  if (card) {
    await client.chat
      .update({
        channel: card.channel,
        ts: card.ts,
        text: `${action.tool}: ${action.state}`,
        blocks: decidedCardBlocks(action, approvalViewOf(action)),
      })
      .catch((error: unknown) =>
        services.logger.warn({ actionId: action.id, err: describeError(error) }, "card update failed"),
      );
    await services.cards.forget(action.id).catch(() => undefined);
  }
  if (!conversation) return;
  // A result the clicker's bot already told in the thread (it read it back after losing the answer) is told once.
  if (!(await services.deduper.claim("outcome", action.id).catch(() => true))) return;
  await client.chat.postMessage({
    channel: conversation.channel,
    thread_ts: conversation.thread,
    text: `${decisionLine(action)}\n${sanitizePlain(notice.text)}`,
    unfurl_links: false,
    unfurl_media: false,
  });
  await services.conversations
    .addNote(conversation, `Action ${action.id} (${action.tool}) is ${action.state}. ${notice.text}`)
    .catch(() => undefined);
}
