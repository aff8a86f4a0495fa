import type { webApi } from "@slack/bolt";
import { describeError } from "../../core/errors.ts";
import type { PendingAction } from "../../core/pending.ts";
import { decidedCardBlocks, decisionLine, type CardState } from "../blocks/approval-card.ts";
import type { TrackedCard } from "../card-tracker.ts";
import type { BotServices } from "../deps.ts";
import { sanitizePlain } from "../sanitize.ts";

/**
 * Cards whose approval window ended while they still showed buttons. The card
 * only knows what was proposed; the action store knows what happened since
 * (a click on another replica, an execution interrupted by a restart). So the
 * sweep reads the action's current state first and shows that: "expired …
 * nothing was changed" only for an action that never left `pending`. Every
 * card it updates is audited. Returns how many cards this replica updated.
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

function targetOf(card: TrackedCard): string {
  const { target } = card.action;
  return `${target.kind} ${target.namespace ? `${target.namespace}/` : ""}${target.name}`;
}

/** What the thread is told, for each state the action can be in once its window has ended. */
function outcomeSentence(card: TrackedCard, current: PendingAction | undefined): string {
  const subject = `${card.action.tool} on ${targetOf(card)}`;
  if (!current)
    return `${subject} is past its approval window and its record is gone, so I can't tell what happened to it; \`deputy audit show ${card.action.id}\` has its story.`;
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
      return `${subject} was approved and succeeded.${current.outcome?.message ? ` ${current.outcome.message}` : ""}`;
    case "failed":
      return `${subject} was approved and then failed.${current.outcome?.message ? ` ${current.outcome.message}` : ""}`;
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
  const shown: CardState = current ? { ...current, state } : { ...card.action, state };
  const sentence = outcomeSentence(card, current);
  services.audit?.record({
    kind: "card_update",
    actionId: card.action.id,
    tool: card.action.tool,
    conversation: card.conversation,
    message: sentence,
    details: { trigger: "expiry_sweep", actionState: current?.state ?? "unknown", cardShows: state },
  });
  await client.chat.update({
    channel: card.channel,
    ts: card.ts,
    text: `${card.action.tool}: ${state}`,
    blocks: decidedCardBlocks(shown),
  });
  await client.chat.postMessage({
    channel: card.channel,
    thread_ts: card.conversation.thread,
    text:
      current && state !== "expired"
        ? `${decisionLine(shown)}\n${sanitizePlain(sentence)}`
        : sanitizePlain(sentence),
  });
  await services.conversations.addNote(card.conversation, `Action ${card.action.id}: ${sentence}`);
}
