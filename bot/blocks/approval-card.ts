import type { types } from "@slack/bolt";
import type { Identity } from "../../core/identity.ts";
import type { DecisionResult, PendingAction, PendingActionSummary } from "../../core/pending.ts";
import { sanitizeForSlack, sanitizeInCodeBlock, sanitizePlain } from "../sanitize.ts";

type KnownBlock = types.KnownBlock;

/** Action ids of the card's buttons; the listeners match on these. */
export const APPROVE_ACTION_ID = "deputy_approve";
export const REJECT_ACTION_ID = "deputy_reject";

const MAX_PREVIEW_LINES = 25;

export function mentionIdentity(identity: Identity | undefined): string {
  if (!identity) return "someone";
  if (identity.kind === "slack" && /^[UW][A-Z0-9]+$/.test(identity.id)) return `<@${identity.id}>`;
  return sanitizePlain(identity.name ?? identity.id);
}

/** Slack renders this in each reader's time zone; the fallback is UTC. */
export function slackDate(iso: string): string {
  const millis = Date.parse(iso);
  if (Number.isNaN(millis)) return sanitizePlain(iso);
  const fallback = new Date(millis).toISOString().replace("T", " ").slice(0, 16) + " UTC";
  return `<!date^${Math.floor(millis / 1000)}^{date_short_pretty} {time}|${fallback}>`;
}

function targetText(target: PendingActionSummary["target"]): string {
  const where = target.namespace ? `${target.namespace}/${target.name}` : target.name;
  return sanitizePlain(`${target.kind} ${where}`);
}

function previewBlock(preview: readonly string[]): KnownBlock[] {
  if (preview.length === 0) return [];
  const shown = preview.slice(0, MAX_PREVIEW_LINES).map(sanitizeInCodeBlock);
  if (preview.length > MAX_PREVIEW_LINES) shown.push(`… ${preview.length - MAX_PREVIEW_LINES} more lines`);
  const body = shown.join("\n").replace(/```/g, "'''").slice(0, 2800);
  return [{ type: "section", text: { type: "mrkdwn", text: "```" + body + "```" } }];
}

function riskBlock(risk: PendingActionSummary["risk"]): KnownBlock {
  if (risk.level === "normal" && risk.flags.length === 0) {
    return { type: "context", elements: [{ type: "mrkdwn", text: "Risk: normal" }] };
  }
  const flags = risk.flags.map((flag) => `• *${sanitizePlain(flag.rule)}*: ${sanitizePlain(flag.message)}`);
  const heading = risk.level === "high" ? ":warning: *High risk*" : "*Risk flags*";
  return { type: "section", text: { type: "mrkdwn", text: [heading, ...flags].join("\n").slice(0, 2900) } };
}

function whatAndWhy(action: PendingActionSummary): KnownBlock[] {
  const reason = action.reason?.trim()
    ? sanitizeForSlack(action.reason.trim()).slice(0, 1500)
    : "_no reason given_";
  return [
    {
      type: "section",
      fields: [
        { type: "mrkdwn", text: `*Action*\n\`${sanitizePlain(action.tool)}\`` },
        { type: "mrkdwn", text: `*Target*\n${targetText(action.target)}` },
      ],
    },
    {
      type: "section",
      text: { type: "mrkdwn", text: `*What will change*\n${sanitizePlain(action.summary).slice(0, 2800)}` },
    },
    ...previewBlock(action.preview),
    { type: "section", text: { type: "mrkdwn", text: `*Why*\n${reason}` } },
    riskBlock(action.risk),
  ];
}

export interface ApprovalCardOptions {
  /** `<!subteam^S…>` or `<@U…>` mentions of whoever may approve; built by us, never from the model. */
  approverMention: string | undefined;
}

/** The card posted in the thread when a write tool returns a pending action. */
export function approvalCardBlocks(action: PendingActionSummary, options: ApprovalCardOptions): KnownBlock[] {
  const high = action.risk.level === "high";
  return [
    {
      type: "header",
      text: { type: "plain_text", text: `Approval needed: ${action.tool}`.slice(0, 150), emoji: true },
    },
    ...whatAndWhy(action),
    {
      type: "context",
      elements: [
        {
          type: "mrkdwn",
          text: `Requested by ${mentionIdentity(action.requester)} · expires ${slackDate(action.expiresAt)} · \`${action.id}\``,
        },
      ],
    },
    {
      type: "section",
      text: {
        type: "mrkdwn",
        text: `${options.approverMention ?? "An approver"}: please review. The requester cannot approve their own request.`,
      },
    },
    {
      type: "actions",
      block_id: "deputy_decision",
      elements: [
        {
          type: "button",
          action_id: APPROVE_ACTION_ID,
          text: { type: "plain_text", text: "Approve", emoji: true },
          style: "primary",
          value: action.id,
          ...(high
            ? {
                confirm: {
                  title: { type: "plain_text", text: "High-risk change" },
                  text: {
                    type: "mrkdwn",
                    text: `Approve \`${sanitizePlain(action.tool)}\` on ${targetText(action.target)}?`,
                  },
                  confirm: { type: "plain_text", text: "Approve" },
                  deny: { type: "plain_text", text: "Cancel" },
                },
              }
            : {}),
        },
        {
          type: "button",
          action_id: REJECT_ACTION_ID,
          text: { type: "plain_text", text: "Reject", emoji: true },
          style: "danger",
          value: action.id,
        },
      ],
    },
  ];
}

/** Notification text (push, screen readers) for the card. */
export function approvalCardText(action: PendingActionSummary): string {
  return sanitizePlain(
    `Approval needed: ${action.tool} on ${action.target.kind} ${action.target.namespace ? `${action.target.namespace}/` : ""}${action.target.name}`,
  );
}

const STATE_HEADLINES: Record<PendingAction["state"], string> = {
  pending: ":hourglass_flowing_sand: Waiting for approval",
  approved: ":hourglass_flowing_sand: Approved, running",
  executing: ":hourglass_flowing_sand: Approved, running",
  succeeded: ":white_check_mark: Approved and done",
  failed: ":x: Approved, but it failed",
  rejected: ":no_entry_sign: Rejected",
  expired: ":alarm_clock: Expired without a decision",
};

/** What a decided card needs: the proposal and its current state (a full PendingAction fits). */
export type CardState = PendingActionSummary &
  Pick<PendingAction, "state"> &
  Partial<Pick<PendingAction, "decidedBy" | "decidedAt" | "outcome">>;

/** One line saying what happened to an action, for the card and the thread. */
export function decisionLine(action: CardState): string {
  const who = action.decidedBy ? ` by ${mentionIdentity(action.decidedBy)}` : "";
  const when = action.decidedAt ? ` at ${slackDate(action.decidedAt)}` : "";
  switch (action.state) {
    case "succeeded":
    case "failed":
    case "approved":
    case "executing":
      return `${STATE_HEADLINES[action.state]} — approved${who}${when}`;
    case "rejected":
      return `${STATE_HEADLINES.rejected}${who}${when}`;
    case "expired":
      return `${STATE_HEADLINES.expired} (expired ${slackDate(action.expiresAt)})`;
    case "pending":
      return STATE_HEADLINES.pending;
  }
}

/** The card after a decision: same facts, the outcome instead of buttons. */
export function decidedCardBlocks(action: CardState): KnownBlock[] {
  const outcome = action.outcome?.message ? sanitizePlain(action.outcome.message).slice(0, 2000) : undefined;
  const facts = [
    action.outcome?.kubeStatus !== undefined ? `API status ${action.outcome.kubeStatus}` : undefined,
    action.outcome?.durationMs !== undefined ? `${action.outcome.durationMs} ms` : undefined,
    action.outcome?.leaseId ? `lease \`${sanitizePlain(action.outcome.leaseId)}\`` : undefined,
  ].filter((fact): fact is string => fact !== undefined);
  return [
    { type: "header", text: { type: "plain_text", text: `${action.tool}`.slice(0, 150), emoji: true } },
    ...whatAndWhy(action),
    {
      type: "section",
      text: { type: "mrkdwn", text: `*${decisionLine(action)}*${outcome ? `\n${outcome}` : ""}` },
    },
    {
      type: "context",
      elements: [
        {
          type: "mrkdwn",
          text: [`Requested by ${mentionIdentity(action.requester)}`, `\`${action.id}\``, ...facts].join(
            " · ",
          ),
        },
      ],
    },
  ];
}

/**
 * The thread message after a decision, written so that a person and the agent
 * (on the next follow-up) both know what happened and what to do next.
 */
export function decisionResultText(result: DecisionResult): string {
  if (result.status === "refused") return sanitizePlain(result.message);
  const action = result.action;
  const target = `${action.target.kind} ${action.target.namespace ? `${action.target.namespace}/` : ""}${action.target.name}`;
  const detail = result.message ? ` ${result.message}` : "";
  switch (result.status) {
    case "succeeded":
      return sanitizePlain(
        `${action.tool} on ${target} succeeded.${detail} Next: check that the workload recovers (ask me to troubleshoot it again).`,
      );
    case "failed":
      return sanitizePlain(`${action.tool} on ${target} failed.${detail} Nothing else was changed.`);
    case "rejected":
      return sanitizePlain(`${action.tool} on ${target} was rejected.${detail} Nothing was changed.`);
    case "not_pending":
      return sanitizePlain(`${action.tool} on ${target} is already ${action.state}.${detail}`);
  }
}
