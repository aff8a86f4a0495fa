import type { webApi } from "@slack/bolt";
import { describeTarget } from "../../core/actions/action-type.ts";
import type { PendingAction } from "../../core/actions/schema.ts";
import { approvalViewOf } from "../../core/actions/view.ts";
import { describeError } from "../../core/errors.ts";
import { decidedCardBlocks, decisionLine } from "../blocks/approval-card.ts";
import type { TrackedCard } from "../card-tracker.ts";
import type { BotServices } from "../deps.ts";
import { sanitizePlain } from "../sanitize.ts";

/**
 * Cards whose approval window ended while they still showed buttons. The card
 * only knows which action it shows; the action store knows what happened
 * since (a click on another replica, an execution interrupted by a restart).
 * So the sweep reads the action's current state first and shows that:
 * "expired … nothing was changed" only for an action that never left
 * `pending`. Every card it updates is audited. Returns how many cards this
 * replica updated.
 */
export async function sweepExpiredCards(
  services: BotServices,
  client: webApi.WebClient,
  now = Date.now(),
): Promise<number> {
  const expired = await services.cards.claimExpired(now);
  let updated = 0;
  for (const card of expired) {
    const log = services.logger.child({ actionId: card.action.id });
    let current: PendingAction | undefined;
    try {
      current = await services.actions.get(card.action.id);
    } catch (error) {
      // Without the state we cannot say what happened: keep the card for the next sweep.
      log.warn({ err: describeError(error) }, "could not read the action's state; the card stays as it is");
      await services.cards
        .remember(card)
        .catch((rememberFailure: unknown) =>
          log.warn({ err: describeError(rememberFailure) }, "could not keep tracking the card"),
        );
      continue;
    }
    try {
      await showOutcome(services, client, card, current);
      updated++;
    } catch (error) {
      log.warn({ err: describeError(error) }, "could not update a card whose approval window ended");
    }
  }
  return updated;
}

/** What the thread is told, for each state the action can be in once its window has ended. */
function outcomeSentence(card: TrackedCard, current: PendingAction | undefined): string {
  if (!current)
    return `${card.action.tool} (${card.action.id}) is past its approval window and its record is gone, so I can't tell what happened to it; \`deputy audit show ${card.action.id}\` has its story.`;
  const subject = `${current.tool} on ${describeTarget(current.target)}`;
  const outcome = current.outcome?.message ? ` ${current.outcome.message}` : "";
  switch (current.state) {
    case "pending":
    case "expired":
      return `${subject} expired without a decision; nothing was changed. Ask again if it is still needed.`;
    case "rejected":
      return `${subject} was rejected; nothing was changed.`;
    case "approved":
    case "executing":
      return `${subject} was approved and started executing, and has not reported an outcome yet; part of it may already be done. Check its target before asking again.`;
    case "succeeded":
      return `${subject} was approved and succeeded.${outcome}`;
    case "failed":
      return `${subject} was approved and then failed.${outcome}`;
    case "interrupted":
      return `${subject} was approved and interrupted part-way.${outcome}`;
  }
}

async function showOutcome(
  services: BotServices,
  client: webApi.WebClient,
  card: TrackedCard,
  current: PendingAction | undefined,
): Promise<void> {
  // A pending action past its window can no longer be approved: it is expired in all but name.
  const state: PendingAction["state"] = !current || current.state === "pending" ? "expired" : current.state;
  const sentence = outcomeSentence(card, current);
  services.audit?.record({
    kind: "card_update",
    actionId: card.action.id,
    tool: card.action.tool,
    ...(current ? { cluster: current.cluster } : {}),
    conversation: card.conversation,
    message: sentence,
    details: { trigger: "expiry_sweep", actionState: current?.state ?? "unknown", cardShows: state },
  });
  const shown = current ? { ...current, state } : undefined;
  await client.chat.update({
    channel: card.channel,
    ts: card.ts,
    text: sanitizePlain(`${card.action.tool}: ${state}`),
    blocks: shown
      ? decidedCardBlocks(shown, approvalViewOf(shown))
      : [{ type: "section", text: { type: "mrkdwn", text: sanitizePlain(sentence) } }],
  });
  await client.chat.postMessage({
    channel: card.channel,
    thread_ts: card.conversation.thread,
    text:
      shown && state !== "expired"
        ? `${decisionLine(shown)}\n${sanitizePlain(sentence)}`
        : sanitizePlain(sentence),
  });
  await services.conversations.addNote(card.conversation, `Action ${card.action.id}: ${sentence}`);
  if (current && !["pending", "approved", "executing"].includes(current.state)) {
    await services.cards.forget(card.action.id).catch(() => undefined);
  }
}
