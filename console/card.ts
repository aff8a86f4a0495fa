import { describeTarget } from "../core/actions/action-type.ts";
import type { ActionState, PendingAction, RiskFlag } from "../core/actions/schema.ts";
import { approvalViewOf, viewLines } from "../core/actions/view.ts";
import type { Identity } from "../core/identity/identity.ts";

/**
 * The console's approval card: the same facts as the Slack card (tool,
 * target, cluster, the complete approval view, reason, risk flags,
 * requester, expiry, digest) plus the decision once made. The browser
 * receives this plain data and renders it as text; the buttons send the
 * action id and the digest, as in Slack.
 */
export interface ApprovalCardView {
  actionId: string;
  digest: string;
  cluster: string;
  tool: string;
  summary: string;
  target: string;
  /** Every line of the approval view, security first; nothing cut. */
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

export function approvalCardView(action: PendingAction, approvers: readonly string[]): ApprovalCardView {
  const view = approvalViewOf(action);
  return {
    actionId: action.id,
    digest: action.digest,
    cluster: action.cluster,
    tool: action.tool,
    summary: view.summary,
    target: describeTarget(action.target, { lowercaseKind: true }),
    preview: viewLines(view),
    reason: action.reason,
    risk: { level: action.risk.level, flags: action.risk.flags.map((flag) => ({ ...flag })) },
    requester: action.requester,
    expiresAt: action.expiresAt,
    state: action.state,
    decidedBy: action.decidedBy,
    decidedAt: action.decidedAt,
    outcome: action.outcome
      ? {
          message: action.outcome.message,
          kubeStatus: action.outcome.kubeStatus,
          leaseId: action.outcome.leaseId,
          durationMs: action.outcome.durationMs,
        }
      : undefined,
    approvers: [...approvers],
  };
}
