import type { Identity } from "../core/identity.ts";
import type { ActionState, PendingAction, PendingActionSummary, RiskFlag } from "../core/pending.ts";

/**
 * The console's approval card: the same facts as the Slack card (tool, target,
 * preview, reason, risk flags, requester, expiry) plus the decision once made.
 * The browser receives this plain data and renders it as text; the buttons
 * carry only the action id, as in Slack.
 */
export interface ApprovalCardView {
  actionId: string;
  tool: string;
  summary: string;
  target: string;
  preview: string[];
  reason: string | undefined;
  risk: { level: "normal" | "high"; flags: RiskFlag[] };
  requester: Identity;
  expiresAt: string;
  state: ActionState;
  decidedBy: Identity | undefined;
  decidedAt: string | undefined;
  outcome: { message: string; kubeStatus?: number; leaseId?: string; durationMs?: number } | undefined;
  /** Who may approve, shown on the card as Slack mentions the approver group. */
  approvers: string[];
}

export function describeTarget(target: PendingActionSummary["target"]): string {
  const where = target.namespace ? `${target.namespace}/` : "";
  return `${target.kind.toLowerCase()} ${where}${target.name}`;
}

function isFullAction(action: PendingAction | PendingActionSummary): action is PendingAction {
  return "state" in action;
}

export function approvalCardView(
  action: PendingAction | PendingActionSummary,
  approvers: readonly string[],
): ApprovalCardView {
  const full = isFullAction(action) ? action : undefined;
  return {
    actionId: action.id,
    tool: action.tool,
    summary: action.summary,
    target: describeTarget(action.target),
    preview: [...action.preview],
    reason: action.reason,
    risk: { level: action.risk.level, flags: action.risk.flags.map((flag) => ({ ...flag })) },
    requester: action.requester,
    expiresAt: action.expiresAt,
    state: full?.state ?? "pending",
    decidedBy: full?.decidedBy,
    decidedAt: full?.decidedAt,
    outcome: full?.outcome
      ? {
          message: full.outcome.message,
          kubeStatus: full.outcome.kubeStatus,
          leaseId: full.outcome.leaseId,
          durationMs: full.outcome.durationMs,
        }
      : undefined,
    approvers: [...approvers],
  };
}
