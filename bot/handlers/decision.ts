import type { webApi } from "@slack/bolt";
import { describeError } from "../../core/errors.ts";
import { fenceUntrusted } from "../../core/untrusted/fence.ts";
import type { ConversationRef, Identity } from "../../core/identity/identity.ts";
import type { ApprovalProgress, Decision, DecisionResult, PendingAction } from "../../core/actions/schema.ts";
import { approvalViewOf } from "../../core/actions/view.ts";
import { ACTION_ID_PATTERN } from "../../core/actions/schema.ts";
import {
  approvalCardBlocks,
  approvalCardText,
  approvalContext,
  approvalLine,
  decidedCardBlocks,
  decisionLine,
  decisionResultText,
} from "../blocks/approval-card.ts";
import { cardPolicyOf } from "../approvers.ts";
import type { ApprovalDecider, BotServices } from "../deps.ts";
import {
  actionVanished,
  decisionNotRecorded,
  decisionNotTaken,
  decisionOutcomeUnknown,
  decisionStillRunning,
  failureCause,
  outcomeNotKnownYet,
  runningWithoutAnswer,
} from "../failure-text.ts";
import { vanishedCardBlocks } from "../blocks/vanished-card.ts";
import { sanitizePlain } from "../sanitize.ts";
import { followOutcome } from "./verify-outcome.ts";
import { rememberOutcome } from "../memory/incident-memory.ts";

export interface DecisionClick {
  decision: Decision;
  /** From the button's value: the opaque action id and the digest of the content the card showed. */
  actionId: string;
  digest: string | undefined;
  approver: Identity;
  /** Where the card is. */
  channel: string;
  messageTs: string;
  threadTs: string | undefined;
  /** Identifies this click; a replayed payload carries the same one. */
  clickKey: string;
  /** The reason typed in the Break glass modal: an approval alone, announced to everyone. */
  breakGlass?: string | undefined;
}

function conversationOf(action: PendingAction | undefined, click: DecisionClick): ConversationRef {
  if (action?.conversation?.surface === "slack") return action.conversation;
  return {
    surface: "slack",
    teamId: click.approver.teamId,
    channel: click.channel,
    thread: click.threadTs ?? click.messageTs,
  };
}

/**
 * The note the agent reads on its next turn in the thread. Notes are Deputy's
 * trusted words, but the outcome quotes the Kubernetes API (an admission
 * webhook's denial is text anyone who runs a webhook writes), so it is fenced
 * as data like any other cluster text.
 */
export function agentNote(result: DecisionResult): string | undefined {
  if (result.status === "refused" || result.status === "not_pending" || result.status === "awaiting")
    return undefined;
  const a = result.action;
  const who = a.decidedBy ? ` by ${a.decidedBy.kind}:${a.decidedBy.id}` : "";
  const outcome = a.outcome?.message ?? result.message;
  const quoted = outcome ? ` Result, as reported:\n${fenceUntrusted(`outcome ${a.id}`, outcome)}` : "";
  return `Action ${a.id} (${a.tool} on ${a.target.kind} ${a.target.namespace ? `${a.target.namespace}/` : ""}${a.target.name}) was ${result.status}${who}.${quoted}`;
}

/**
 * An Approve or Reject click, already acknowledged. The executor decides
 * (approver checks, two-person rule, expiry, exactly-once); we only show the
 * result: card updated in place, the outcome in the thread, or an ephemeral
 * explanation to the person whose click was refused.
 */
export async function handleDecisionClick(
  services: BotServices,
  client: webApi.WebClient,
  click: DecisionClick,
): Promise<void> {
  const log = services.logger.child({
    actionId: click.actionId,
    approver: click.approver,
    decision: click.decision,
  });
  // `text` must already be safe mrkdwn (sanitise anything from the executor or the cluster).
  const ephemeral = (text: string): Promise<unknown> =>
    client.chat.postEphemeral({
      channel: click.channel,
      user: click.approver.id,
      text,
      ...(click.threadTs ? { thread_ts: click.threadTs } : {}),
    });

  try {
    await decideAndReport(services, client, click, log, ephemeral);
  } catch (error) {
    // Whatever failed after the decision (Slack, the store), the clicker hears about it.
    log.error({ err: describeError(error) }, "decision click failed");
    await ephemeral(
      sanitizePlain(
        `Something went wrong after your click: ${failureCause(error)}. Check the card and the thread.`,
      ),
    ).catch((reportFailure: unknown) =>
      log.error({ err: describeError(reportFailure) }, "could not report the failure"),
    );
  }
}

async function decideAndReport(
  services: BotServices,
  client: webApi.WebClient,
  click: DecisionClick,
  log: BotServices["logger"],
  ephemeral: (text: string) => Promise<unknown>,
): Promise<void> {
  if (!ACTION_ID_PATTERN.test(click.actionId)) {
    await ephemeral("This button does not carry a valid Deputy action id; nothing was done.");
    return;
  }
  // The executor of the cluster the action was proposed in decides it; no other can run it.
  let decider: ApprovalDecider | string;
  try {
    decider = await deciderFor(services, click.actionId);
  } catch (error) {
    log.error({ err: describeError(error) }, "could not tell the action's cluster");
    await ephemeral(sanitizePlain(decisionNotRecorded(click.decision, error)));
    return;
  }
  if (typeof decider === "string") {
    log.info({ refused: decider }, "decision not routed");
    if (decider === NOT_STORED) await reportVanished(services, client, click, log, ephemeral);
    else await ephemeral(sanitizePlain(decider));
    return;
  }
  let first: boolean;
  try {
    first = await services.deduper.claim("interaction", click.clickKey);
  } catch (error) {
    // No claim was taken, so this click (or a replay of it) can be tried again.
    log.error({ err: describeError(error) }, "click dedupe unavailable");
    await ephemeral(sanitizePlain(decisionNotRecorded(click.decision, error)));
    return;
  }
  if (!first) {
    log.info("replayed click ignored");
    return;
  }

  let result: DecisionResult;
  try {
    result = await decider.decide({
      actionId: click.actionId,
      digest: click.digest,
      approver: click.approver,
      decision: click.decision,
      ...(click.breakGlass !== undefined ? { breakGlass: click.breakGlass } : {}),
    });
  } catch (error) {
    log.error({ err: describeError(error) }, "decision failed");
    // Whether it was decided is for the store to say, not for the lost answer.
    await reportLostAnswer(services, client, click, log, ephemeral, error);
    return;
  }
  log.info({ status: result.status }, "decision result");

  if (result.status === "refused" && result.rule === "unknown-action") {
    await reportVanished(services, client, click, log, ephemeral);
    return;
  }
  if (result.status === "refused") {
    await ephemeral(`:no_entry: ${sanitizePlain(result.message)}`);
    // An expired action's card should stop offering buttons.
    if (result.action && result.action.state !== "pending")
      await updateCard(client, click, result.action, log);
    return;
  }
  if (result.status === "awaiting") {
    // More approvals are needed: the card shows who has approved; nothing ran.
    await updatePendingCard(services, client, click, result.action, result.approval, log);
    await ephemeral(`:ballot_box_with_check: ${sanitizePlain(result.message)}`);
    return;
  }
  // Under a policy file the decided card keeps the rule and who approved; the built-in policy's card is as ever.
  const approval =
    services.approvalPolicy && result.status !== "rejected" && "approval" in result
      ? result.approval
      : undefined;
  await updateCard(client, click, result.action, log, approval);
  // Keep tracking a card until its action is final: an interrupted run updates it later.
  if (!["pending", "approved", "executing"].includes(result.action.state)) {
    await services.cards.forget(result.action.id).catch(() => undefined);
  }
  if (result.status === "not_pending") {
    await ephemeral(`${decisionLine(result.action)}. ${sanitizePlain(result.message)}`);
    return;
  }

  const conversation = conversationOf(result.action, click);
  await client.chat.postMessage({
    channel: click.channel,
    thread_ts: click.threadTs ?? click.messageTs,
    // The thread keeps who approved under which rule, as the card does.
    text: `${decisionLine(result.action)}\n${decisionResultText(result)}${approval ? `\n${approvalLine(approval)}` : ""}`,
    unfurl_links: false,
    unfurl_media: false,
  });
  const note = agentNote(result);
  if (note) {
    await services.conversations
      .addNote(conversation, note)
      .catch((error: unknown) => log.warn({ err: describeError(error) }, "could not store the note"));
  }
  if (result.status === "failed") {
    const action = result.action;
    // A fix that failed to run is remembered as one that did not work.
    services.tasks.run("remember_fix", () =>
      rememberOutcome(services, client, {
        action,
        cluster: services.clusters.ofAction(action.cluster)?.name ?? action.cluster,
        conversation,
        verdict: "failed",
      }),
    );
  }
  if (result.status === "succeeded") {
    const action = result.action;
    services.tasks.run("follow_up", () =>
      followOutcome(services, client, {
        action,
        channel: click.channel,
        cardTs: click.messageTs,
        threadTs: click.threadTs ?? click.messageTs,
        conversation,
        approval,
      }),
    );
  }
}

/** deciderFor's answer for an action that is not stored (any more). */
const NOT_STORED = "not-stored";

/**
 * The executor's answer was lost (a timeout, a dropped connection, a failure
 * after the request was sent). The action is read back, and what is true is
 * said: still pending (click again), decided and running (the result follows
 * in the thread), finished (the result, now), gone, or not known yet. A click
 * is invited again only when the store shows nothing was decided.
 */
async function reportLostAnswer(
  services: BotServices,
  client: webApi.WebClient,
  click: DecisionClick,
  log: BotServices["logger"],
  ephemeral: (text: string) => Promise<unknown>,
  error: unknown,
): Promise<void> {
  const thread = (text: string): Promise<unknown> =>
    client.chat.postMessage({
      channel: click.channel,
      thread_ts: click.threadTs ?? click.messageTs,
      text,
      unfurl_links: false,
      unfurl_media: false,
    });
  let current: PendingAction | undefined;
  try {
    current = await services.actions.get(click.actionId);
  } catch (readFailure) {
    log.warn({ err: describeError(readFailure) }, "could not read the action after a lost answer");
    await ephemeral(sanitizePlain(decisionOutcomeUnknown(click.decision, error)));
    await thread(sanitizePlain(outcomeNotKnownYet(error)));
    return;
  }
  if (!current) {
    await reportVanished(services, client, click, log, ephemeral);
    return;
  }
  if (current.state === "pending") {
    // Nothing was decided: give the claim back so the same click can be retried.
    await services.deduper
      .release("interaction", click.clickKey)
      .catch((releaseFailure: unknown) =>
        log.warn({ err: describeError(releaseFailure) }, "could not release the click claim"),
      );
    await ephemeral(sanitizePlain(decisionNotTaken(click.decision, error)));
    return;
  }
  await updateCard(client, click, current, log);
  if (current.state === "approved" || current.state === "executing") {
    // The executor queues the result for this thread when its answer cannot be delivered.
    await ephemeral(sanitizePlain(decisionStillRunning(click.decision, error)));
    await thread(`${decisionLine(current)}\n${sanitizePlain(runningWithoutAnswer(error))}`);
    return;
  }
  await services.cards.forget(current.id).catch(() => undefined);
  await ephemeral(`${decisionLine(current)}. The result is in the thread.`);
  // Told once: the executor's own notice of this result may arrive too.
  if (!(await services.deduper.claim("outcome", current.id).catch(() => true))) return;
  const message = current.outcome?.message ?? "";
  const text =
    current.state === "succeeded" || current.state === "failed" || current.state === "rejected"
      ? decisionResultText({ status: current.state, message, action: current })
      : sanitizePlain(message || `The action is ${current.state}.`);
  await thread(`${decisionLine(current)}\n${text}`);
}

/**
 * A click on a card whose action is no longer stored: the clicker, the card
 * (its buttons go) and the thread are all told, once.
 */
async function reportVanished(
  services: BotServices,
  client: webApi.WebClient,
  click: DecisionClick,
  log: BotServices["logger"],
  ephemeral: (text: string) => Promise<unknown>,
): Promise<void> {
  const sentence = actionVanished(click.actionId);
  await ephemeral(`:no_entry: ${sanitizePlain(sentence)}`);
  try {
    await client.chat.update({
      channel: click.channel,
      ts: click.messageTs,
      text: sanitizePlain(sentence),
      blocks: vanishedCardBlocks(click.actionId, sentence),
    });
  } catch (error) {
    log.warn({ err: describeError(error) }, "card update failed");
  }
  await services.cards.forget(click.actionId).catch(() => undefined);
  if (!(await services.deduper.claim("outcome", click.actionId).catch(() => true))) return;
  await client.chat.postMessage({
    channel: click.channel,
    thread_ts: click.threadTs ?? click.messageTs,
    text: sanitizePlain(sentence),
    unfurl_links: false,
    unfurl_media: false,
  });
}

/** The decider of the cluster an action was proposed in, or why there is none. */
async function deciderFor(services: BotServices, actionId: string): Promise<ApprovalDecider | string> {
  const { clusters } = services;
  // One cluster: its executor decides everything, and reports unknown or tampered actions itself.
  if (clusters.all.length === 1) return clusters.all[0]!.decider;
  // Read without verifying, only to route: that cluster's executor verifies the action whole.
  const name = await services.actions.clusterOf(actionId);
  if (name === undefined) return NOT_STORED;
  const cluster = clusters.ofAction(name);
  if (!cluster) {
    return `Action ${actionId} was proposed in cluster ${name}, which this bot does not serve; nothing was done.`;
  }
  return cluster.decider;
}

async function updateCard(
  client: webApi.WebClient,
  click: DecisionClick,
  action: PendingAction,
  log: BotServices["logger"],
  approval?: ApprovalProgress,
): Promise<void> {
  try {
    await client.chat.update({
      channel: click.channel,
      ts: click.messageTs,
      text: sanitizePlain(`${action.tool}: ${action.state}`),
      blocks: decidedCardBlocks(action, approvalViewOf(action), approval ? approvalContext(approval) : []),
    });
  } catch (error) {
    log.warn({ err: describeError(error) }, "card update failed");
  }
}

/** A card still pending after an approval that did not complete the quorum: who has approved so far. */
async function updatePendingCard(
  services: BotServices,
  client: webApi.WebClient,
  click: DecisionClick,
  action: PendingAction,
  approval: ApprovalProgress,
  log: BotServices["logger"],
): Promise<void> {
  try {
    await client.chat.update({
      channel: click.channel,
      ts: click.messageTs,
      text: approvalCardText(action),
      blocks: approvalCardBlocks(action, approvalViewOf(action), {
        approverMention: services.approverMention,
        nameCluster: services.clusters.all.length > 1,
        policy: cardPolicyOf(approval),
      }),
    });
  } catch (error) {
    log.warn({ err: describeError(error) }, "card update failed");
  }
}
