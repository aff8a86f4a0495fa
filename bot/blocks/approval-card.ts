import type { types } from "@slack/bolt";
import { describeTarget, type ApprovalView } from "../../core/actions/action-type.ts";
import { shortDigest } from "../../core/actions/digest.ts";
import { fullViewLines, unapprovableReason, VIEW_LIMITS } from "../../core/actions/view.ts";
import type { ApprovalProgress, DecisionResult, PendingAction } from "../../core/actions/schema.ts";
import type { Identity } from "../../core/identity/identity.ts";
import { escapeApprovalLine, sanitizeForSlack, sanitizePlain } from "../sanitize.ts";

type KnownBlock = types.KnownBlock;

/**
 * The approval card, rendered from the stored, verified action and its
 * action type's view, never from a tool result. Nothing that changes what
 * runs is cut: risk flags and security facts come first, every changed field
 * follows in full; when that is longer than a card can hold, the card says
 * so, asks for confirmation, and the full text is one click away (a modal).
 * The buttons carry the action id and its digest, so a click decides exactly
 * this content.
 */

/** Action ids of the card's buttons; the listeners match on these. */
export const APPROVE_ACTION_ID = "deputy_approve";
export const REJECT_ACTION_ID = "deputy_reject";
export const VIEW_CHANGE_ACTION_ID = "deputy_view_change";
export const BREAK_GLASS_ACTION_ID = "deputy_break_glass";
/** The break-glass modal's callback id and its reason input. */
export const BREAK_GLASS_VIEW_ID = "deputy_break_glass_reason";
export const BREAK_GLASS_REASON_BLOCK = "reason";
export const BREAK_GLASS_REASON_INPUT = "reason_input";

/** Room for the change lines on a card: four code sections, under Slack's 3,000 characters each. */
const SECTION_CHARS: number = VIEW_LIMITS.sectionChars;
const MAX_CHANGE_SECTIONS = VIEW_LIMITS.cardSections;
const MODAL_SECTIONS = VIEW_LIMITS.modalSections;

/** "act_…|<digest>": what the Approve and Reject buttons carry. */
export function decisionValue(action: Pick<PendingAction, "id" | "digest">): string {
  return `${action.id}|${action.digest}`;
}

export function parseDecisionValue(value: string): { actionId: string; digest: string | undefined } {
  const [actionId = "", digest] = value.split("|", 2);
  return { actionId, digest: digest === "" ? undefined : digest };
}

/** Lines packed into code sections of at most `limit` characters; a longer line is split, never cut. */
export function packLines(lines: readonly string[], limit = SECTION_CHARS): string[] {
  const chunks: string[] = [];
  let current = "";
  let started = false;
  const push = (piece: string): void => {
    if (started && current.length + 1 + piece.length > limit) {
      chunks.push(current);
      current = piece;
      return;
    }
    current = started ? `${current}\n${piece}` : piece;
    started = true;
  };
  for (const raw of lines) {
    // Field paths and values exactly as they will be applied; broadcasts and markup do not pass.
    const line = escapeApprovalLine(raw);
    if (line.length === 0) push("");
    for (let i = 0; i < line.length; i += limit) push(line.slice(i, i + limit));
  }
  if (started) chunks.push(current);
  return chunks;
}

/** Everything the full view shows, security first (measured by the same function at proposal). */
export const fullChangeLines = fullViewLines;

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

function targetText(target: PendingAction["target"]): string {
  return sanitizePlain(describeTarget(target));
}

function code(chunk: string): KnownBlock {
  return { type: "section", text: { type: "mrkdwn", text: "```" + chunk + "```" } };
}

/** Room for one text section or context element, under Slack's 3,000 characters. */
const TEXT_CHARS = 2900;
/** How many blocks of notes a card shows; the rest are one click away, with a notice. */
const MAX_NOTE_BLOCKS = 3;

/**
 * Lines joined into texts of at most `limit` characters, in order: a line
 * too long for one is split across several, never cut.
 */
function packText(lines: readonly string[], limit = TEXT_CHARS, separator = "\n"): string[] {
  const texts: string[] = [];
  let current: string | undefined;
  for (const line of lines) {
    for (let i = 0; i < Math.max(line.length, 1); i += limit) {
      const piece = line.slice(i, i + limit);
      if (current !== undefined && current.length + separator.length + piece.length <= limit) {
        current = `${current}${separator}${piece}`;
      } else {
        if (current !== undefined) texts.push(current);
        current = piece;
      }
    }
  }
  if (current !== undefined) texts.push(current);
  return texts;
}

/** Risk comes first and whole: as many sections as the flags need, none cut. */
function riskBlocks(action: PendingAction): KnownBlock[] {
  const { risk } = action;
  if (risk.level === "normal" && risk.flags.length === 0) {
    return [{ type: "context", elements: [{ type: "mrkdwn", text: "Risk: normal" }] }];
  }
  const flags = risk.flags.map((flag) => `• *${sanitizePlain(flag.rule)}*: ${sanitizePlain(flag.message)}`);
  const heading = risk.level === "high" ? ":warning: *High risk*" : "*Risk flags*";
  return packText([heading, ...flags]).map((text) => ({ type: "section", text: { type: "mrkdwn", text } }));
}

/**
 * The view's notes (pods left in place, strategy) in context blocks, split
 * rather than cut; past MAX_NOTE_BLOCKS the card says so and the full view
 * (which has every note) is one click away.
 */
function noteBlocks(view: ApprovalView): { blocks: KnownBlock[]; cut: boolean } {
  const texts = packText(
    view.notes.map((note) => sanitizePlain(note)),
    TEXT_CHARS,
    " ",
  );
  const shown = texts.slice(0, MAX_NOTE_BLOCKS);
  const blocks: KnownBlock[] = shown.map((text) => ({
    type: "context",
    elements: [{ type: "mrkdwn", text }],
  }));
  const cut = texts.length > shown.length;
  if (cut) {
    blocks.push({
      type: "context",
      elements: [
        {
          type: "mrkdwn",
          text: `:scissors: The notes are longer than a card can show: ${shown.length} of ${texts.length} parts are above. Press *View full change* to read all of them before you approve.`,
        },
      ],
    });
  }
  return { blocks, cut };
}

interface ChangeBlocks {
  blocks: KnownBlock[];
  /** True when the card shows less than the whole view. */
  truncated: boolean;
  shownLines: number;
  totalLines: number;
}

function changeBlocks(view: ApprovalView): ChangeBlocks {
  const blocks: KnownBlock[] = [];
  const security = packLines(view.security, 2700);
  if (security.length > 0) {
    blocks.push({
      type: "section",
      text: { type: "mrkdwn", text: "*Read first*\n```" + security[0] + "```" },
    });
  }
  const chunks = packLines(view.changes);
  const shown = chunks.slice(0, MAX_CHANGE_SECTIONS);
  blocks.push(...shown.map(code));
  const lineCount = (parts: readonly string[]): number =>
    parts.length === 0 ? 0 : parts.join("\n").split("\n").length;
  const shownLines = lineCount(shown);
  const totalLines = lineCount(chunks);
  const notes = noteBlocks(view);
  const changesCut = chunks.length > MAX_CHANGE_SECTIONS || security.length > 1;
  const truncated = changesCut || notes.cut;
  if (changesCut) {
    blocks.push({
      type: "context",
      elements: [
        {
          type: "mrkdwn",
          text: `:scissors: This change is longer than a card can show: ${shownLines} of ${totalLines} lines are above. Press *View full change* to read all of it before you approve.`,
        },
      ],
    });
  }
  blocks.push(...notes.blocks);
  return { blocks, truncated, shownLines, totalLines };
}

function whatAndWhy(action: PendingAction, view: ApprovalView, changes: ChangeBlocks): KnownBlock[] {
  const reason = action.reason?.trim()
    ? sanitizeForSlack(action.reason.trim()).slice(0, 1500)
    : "_no reason given_";
  return [
    {
      type: "section",
      fields: [
        { type: "mrkdwn", text: `*Action*\n\`${sanitizePlain(action.tool)}\`` },
        {
          type: "mrkdwn",
          text: `*Target*\n${targetText(action.target)}\n*Cluster* ${sanitizePlain(action.cluster)}`,
        },
      ],
    },
    {
      type: "section",
      text: { type: "mrkdwn", text: `*What will change*\n${sanitizePlain(view.summary).slice(0, 2800)}` },
    },
    ...riskBlocks(action),
    ...changes.blocks,
    { type: "section", text: { type: "mrkdwn", text: `*Why*\n${reason}` } },
  ];
}

export interface ApprovalCardOptions {
  /** `<!subteam^S…>` or `<@U…>` mentions of whoever may approve; built by us, never from the model. */
  approverMention: string | undefined;
  /** Several clusters served: the header names the action's cluster too. */
  nameCluster?: boolean;
  /** What an approval policy file says of this action; unset: the one-approver card. */
  policy?: CardPolicy | undefined;
}

/** The approval policy's rule for an action, as the card shows it. */
export interface CardPolicy {
  rule: string;
  /** The policy refuses the action: its reason (no Approve button). */
  refused?: string | undefined;
  /** Who may approve, as mentions we built (<@U…>, <!subteam^S…>). */
  mayApprove: readonly string[];
  required: number;
  /** Who has approved this version so far. */
  approvals: readonly Identity[];
  /** The break-glass group, as a mention. */
  breakGlass?: string | undefined;
}

/** "1 of 2 approvals: @alice": where an N-of-M approval stands. */
export function approvalProgressLine(policy: Pick<CardPolicy, "required" | "approvals">): string {
  const given = policy.approvals.map((who) => mentionIdentity(who)).join(", ");
  return `${policy.approvals.length} of ${policy.required} approvals${given ? `: ${given}` : ""}`;
}

/** Under a decided card: the policy rule that applied and who approved (break-glass marked). */
export function approvalContext(approval: ApprovalProgress): KnownBlock[] {
  return [{ type: "context", elements: [{ type: "mrkdwn", text: approvalLine(approval) }] }];
}

/** "Approval policy, rule *x*: 2 of 2 approvals: @a, @b", with break-glass marked. */
export function approvalLine(approval: ApprovalProgress): string {
  const glass = approval.brokeGlass ? " · :rotating_light: *break-glass* approval, alerted for review" : "";
  return `Approval policy, rule *${sanitizePlain(approval.rule)}*: ${approvalProgressLine(approval)}${glass}`;
}

/** The card's who-may-approve section under an approval policy file. */
function policySection(policy: CardPolicy): string {
  const rule = `approval policy, rule *${sanitizePlain(policy.rule)}*`;
  if (policy.refused !== undefined)
    return `:no_entry: Refused by the ${rule}: ${sanitizePlain(policy.refused)}`;
  const who = policy.mayApprove.length > 0 ? policy.mayApprove.join(" ") : "An approver";
  const needs = policy.required === 1 ? "one approval" : `${policy.required} approvals from different people`;
  return [
    `${who}: please review. Per the ${rule}: ${needs}; the requester cannot approve their own request.`,
    ...(policy.required > 1 || policy.approvals.length > 0 ? [`*${approvalProgressLine(policy)}*`] : []),
    ...(policy.breakGlass
      ? [
          `Break glass: a member of ${policy.breakGlass} may approve alone, with a reason; everyone is alerted.`,
        ]
      : []),
  ].join("\n");
}

/** Approve: carries the action's id and digest; high-risk or long changes ask for confirmation. */
function approveButton(
  action: PendingAction,
  high: boolean,
  changes: ChangeBlocks,
  confirmText: string,
): types.Button {
  return {
    type: "button",
    action_id: APPROVE_ACTION_ID,
    text: { type: "plain_text", text: "Approve", emoji: true },
    style: "primary",
    value: decisionValue(action),
    ...(high || changes.truncated
      ? {
          confirm: {
            title: { type: "plain_text", text: high ? "High-risk change" : "Long change" },
            text: { type: "plain_text", text: confirmText.slice(0, 300) },
            confirm: { type: "plain_text", text: "Approve" },
            deny: { type: "plain_text", text: "Cancel" },
          },
        }
      : {}),
  };
}

/** The card posted in the thread for a stored pending action. */
export function approvalCardBlocks(
  action: PendingAction,
  view: ApprovalView,
  options: ApprovalCardOptions,
): KnownBlock[] {
  const changes = changeBlocks(view);
  const high = action.risk.level === "high";
  // A change Slack cannot show whole, or never answered by the API server, has no Approve
  // button (and the executor would refuse it).
  const unapprovable = unapprovableReason(view);
  const confirmText = [
    high ? "High risk. " : "",
    changes.truncated
      ? `The card shows ${changes.shownLines} of ${changes.totalLines} lines: approve only after reading the full change. `
      : "",
    `Approve ${sanitizePlain(action.tool)} on ${targetText(action.target)} (digest ${shortDigest(action.digest)})?`,
  ].join("");
  return [
    {
      type: "header",
      text: {
        type: "plain_text",
        text: `Approval needed${options.nameCluster ? ` in ${action.cluster}` : ""}: ${action.tool}`.slice(
          0,
          150,
        ),
        emoji: true,
      },
    },
    ...whatAndWhy(action, view, changes),
    {
      type: "context",
      elements: [
        {
          type: "mrkdwn",
          text: `Requested by ${mentionIdentity(action.requester)} · expires ${slackDate(action.expiresAt)} · \`${action.id}\` · digest \`${shortDigest(action.digest)}\``,
        },
      ],
    },
    {
      type: "section",
      text: {
        type: "mrkdwn",
        text: options.policy
          ? policySection(options.policy)
          : `${options.approverMention ?? "An approver"}: please review. The requester cannot approve their own request.`,
      },
    },
    ...(unapprovable
      ? [{ type: "section" as const, text: { type: "mrkdwn" as const, text: `:no_entry: ${unapprovable}` } }]
      : []),
    {
      type: "actions",
      block_id: "deputy_decision",
      elements: [
        ...(unapprovable || options.policy?.refused !== undefined
          ? []
          : [approveButton(action, high, changes, confirmText)]),
        ...(!unapprovable && options.policy?.breakGlass && options.policy.refused === undefined
          ? [
              {
                type: "button" as const,
                action_id: BREAK_GLASS_ACTION_ID,
                text: { type: "plain_text" as const, text: "Break glass", emoji: true },
                value: decisionValue(action),
              },
            ]
          : []),
        {
          type: "button",
          action_id: REJECT_ACTION_ID,
          text: { type: "plain_text", text: "Reject", emoji: true },
          style: "danger",
          value: decisionValue(action),
        },
        ...(changes.truncated
          ? [
              {
                type: "button" as const,
                action_id: VIEW_CHANGE_ACTION_ID,
                text: { type: "plain_text" as const, text: "View full change", emoji: true },
                value: action.id,
              },
            ]
          : []),
      ],
    },
  ];
}

/** Where a break-glass modal came from: the card's button value and where the card is. */
export interface BreakGlassOrigin {
  value: string;
  channel: string;
  messageTs: string;
  threadTs: string | undefined;
}

/** Break glass: the reason is required; Slack refuses to submit the modal without one. */
export function breakGlassModal(action: PendingAction, origin: BreakGlassOrigin): types.ModalView {
  return {
    type: "modal",
    callback_id: BREAK_GLASS_VIEW_ID,
    private_metadata: JSON.stringify(origin),
    title: { type: "plain_text", text: "Break glass" },
    submit: { type: "plain_text", text: "Approve alone" },
    close: { type: "plain_text", text: "Cancel" },
    blocks: [
      {
        type: "section",
        text: {
          type: "mrkdwn",
          text: `You are about to approve ${sanitizePlain(action.tool)} on ${targetText(action.target)} (digest \`${shortDigest(action.digest)}\`) alone, without the approvals the policy asks for. It runs at once; the alert channel is told and the audit trail marks it for review.`,
        },
      },
      {
        type: "input",
        block_id: BREAK_GLASS_REASON_BLOCK,
        label: { type: "plain_text", text: "Why can this not wait?" },
        element: {
          type: "plain_text_input",
          action_id: BREAK_GLASS_REASON_INPUT,
          multiline: true,
          min_length: 3,
          max_length: 500,
        },
      },
    ],
  };
}

/** The modal behind "View full change": every line of the view, in code sections. */
export function fullChangeModal(action: PendingAction, view: ApprovalView): types.ModalView {
  const sections = packLines(fullChangeLines(view));
  const blocks: KnownBlock[] = [
    {
      type: "context",
      elements: [
        {
          type: "mrkdwn",
          text: `\`${sanitizePlain(action.tool)}\` on ${targetText(action.target)} · cluster ${sanitizePlain(action.cluster)} · digest \`${shortDigest(action.digest)}\``,
        },
      ],
    },
    ...sections.slice(0, MODAL_SECTIONS).map(code),
  ];
  if (sections.length > MODAL_SECTIONS) {
    blocks.push({
      type: "section",
      text: {
        type: "mrkdwn",
        text: ":no_entry: This change is too long for Slack to show whole, so it cannot be approved here: the executor refuses to run a change nobody could read whole. Propose it through Git instead.",
      },
    });
  }
  return {
    type: "modal",
    title: { type: "plain_text", text: "Full change" },
    close: { type: "plain_text", text: "Close" },
    blocks,
  };
}

/** Notification text (push, screen readers) for the card. */
export function approvalCardText(action: PendingAction): string {
  return sanitizePlain(
    `Approval needed: ${action.tool} on ${describeTarget(action.target)} (cluster ${action.cluster})`,
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
  interrupted: ":warning: Approved, but interrupted part-way",
};

/** One line saying what happened to an action, for the card and the thread. */
export function decisionLine(action: PendingAction): string {
  const who = action.decidedBy ? ` by ${mentionIdentity(action.decidedBy)}` : "";
  const when = action.decidedAt ? ` at ${slackDate(action.decidedAt)}` : "";
  switch (action.state) {
    case "succeeded":
    case "failed":
    case "approved":
    case "executing":
    case "interrupted":
      return `${STATE_HEADLINES[action.state]} — approved${who}${when}`;
    case "rejected":
      return `${STATE_HEADLINES.rejected}${who}${when}`;
    case "expired":
      return `${STATE_HEADLINES.expired} (expired ${slackDate(action.expiresAt)})`;
    case "pending":
      return STATE_HEADLINES.pending;
  }
}

/** The card after a decision: same facts, the outcome instead of buttons; `after` adds what followed the run. */
export function decidedCardBlocks(
  action: PendingAction,
  view: ApprovalView,
  after: readonly KnownBlock[] = [],
): KnownBlock[] {
  const outcome = action.outcome?.message ? sanitizePlain(action.outcome.message).slice(0, 2000) : undefined;
  const facts = [
    action.outcome?.kubeStatus !== undefined ? `API status ${action.outcome.kubeStatus}` : undefined,
    action.outcome?.durationMs !== undefined ? `${action.outcome.durationMs} ms` : undefined,
    action.outcome?.leaseId ? `lease \`${sanitizePlain(action.outcome.leaseId)}\`` : undefined,
  ].filter((fact): fact is string => fact !== undefined);
  return [
    { type: "header", text: { type: "plain_text", text: `${action.tool}`.slice(0, 150), emoji: true } },
    ...whatAndWhy(action, view, changeBlocks(view)),
    {
      type: "section",
      text: { type: "mrkdwn", text: `*${decisionLine(action)}*${outcome ? `\n${outcome}` : ""}` },
    },
    {
      type: "context",
      elements: [
        {
          type: "mrkdwn",
          text: [
            `Requested by ${mentionIdentity(action.requester)}`,
            `\`${action.id}\``,
            `digest \`${shortDigest(action.digest)}\``,
            ...facts,
          ].join(" · "),
        },
      ],
    },
    ...after,
  ];
}

/**
 * The thread message after a decision, written so that a person and the agent
 * (on the next follow-up) both know what happened and what to do next.
 */
export function decisionResultText(result: DecisionResult): string {
  if (result.status === "refused") return sanitizePlain(result.message);
  const action = result.action;
  const target = `${describeTarget(action.target)} (cluster ${action.cluster})`;
  const detail = result.message ? ` ${result.message}` : "";
  switch (result.status) {
    case "succeeded":
      return sanitizePlain(
        `${action.tool} on ${target} succeeded.${detail} Next: check that the workload recovers (ask me to troubleshoot it again).`,
      );
    case "failed":
      return sanitizePlain(`${action.tool} on ${target} failed.${detail}`);
    case "rejected":
      return sanitizePlain(`${action.tool} on ${target} was rejected.${detail} Nothing was changed.`);
    case "not_pending":
      return sanitizePlain(`${action.tool} on ${target} is already ${action.state}.${detail}`);
    case "awaiting":
      return sanitizePlain(`${action.tool} on ${target} needs more approvals.${detail}`);
  }
}
