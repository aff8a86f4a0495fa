import { z } from "zod";
import { RESUME_HINT } from "../core/observability/anomaly.ts";
import { shortDigest } from "../core/actions/digest.ts";
import type { Decision, PendingAction } from "../core/actions/schema.ts";
import { identitySchema, sameIdentity, type Identity } from "../core/identity/identity.ts";
import {
  identityKindRefusal,
  isAuthorisedApprover,
  type ApproverPolicy,
  type DecisionContext,
} from "./approvers.ts";

/**
 * The checks a decision passes before it may change an action's state, apart
 * from the run: the request's shape, the executor's cluster, the identity kind,
 * the approver list, the two-person rule, the write pause and the card's
 * digest. Each refusal names its rule; the first one found is the answer.
 */

export const decisionRequestSchema = z
  .object({
    actionId: z.string().max(128),
    digest: z
      .string()
      .regex(/^[0-9a-f]{64}$/, "must be the 64-character digest the card carries")
      .optional(),
    approver: identitySchema,
    decision: z.enum(["approve", "reject"]),
  })
  .strict();

export type ParsedDecisionRequest = z.infer<typeof decisionRequestSchema>;

export interface CheckRefusal {
  rule: string;
  message: string;
}

/** The request as data, or why it is not one. */
export function parseDecisionRequest(
  request: unknown,
): { ok: true; request: ParsedDecisionRequest } | { ok: false; refusal: CheckRefusal } {
  const parsed = decisionRequestSchema.safeParse(request);
  if (parsed.success) return { ok: true, request: parsed.data };
  const problems = parsed.error.issues
    .map((i) => `${i.path.join(".") || "request"}: ${i.message}`)
    .join("; ");
  return {
    ok: false,
    refusal: { rule: "invalid-request", message: `The decision request is invalid: ${problems}` },
  };
}

export interface DecisionCheckDeps {
  approvers: ApproverPolicy;
  /** Whether the requester is barred from approving their own action, per risk level. */
  twoPersonRule: { normal: boolean; high: boolean };
  clusterName: string;
  /** The anomaly circuit breaker: while set, approvals are refused. */
  writePause?: (() => Promise<{ rule: string; reason: string; until?: string } | undefined>) | undefined;
}

export interface DecisionUnderCheck {
  action: PendingAction;
  approver: Identity;
  decision: Decision;
  digest: string | undefined;
}

/** The first rule this decision breaks, or undefined when it may go ahead. */
export async function checkDecision(
  deps: DecisionCheckDeps,
  { action, approver, decision, digest }: DecisionUnderCheck,
  context: DecisionContext,
): Promise<CheckRefusal | undefined> {
  // An executor acts on its own cluster only: the cluster is part of what the approver saw.
  if (action.cluster !== deps.clusterName) {
    return {
      rule: "wrong-cluster",
      message: `Action ${action.id} was proposed for cluster ${action.cluster}; this executor runs changes on cluster ${deps.clusterName} only. Nothing was done.`,
    };
  }
  const kindRefusal = identityKindRefusal(deps.approvers, approver);
  if (kindRefusal) return { rule: "local-identity-refused", message: kindRefusal };
  const authorised = await isAuthorisedApprover(deps.approvers, approver, context);
  const cancellingOwn = decision === "reject" && sameIdentity(approver, action.requester);
  if (!authorised && !cancellingOwn) {
    return {
      rule: "approver-not-authorised",
      message: `${approver.name ?? approver.id} is not an authorised approver; ask an on-call approver to decide.`,
    };
  }
  if (
    decision === "approve" &&
    sameIdentity(approver, action.requester) &&
    deps.twoPersonRule[action.risk.level]
  ) {
    return {
      rule: "two-person-rule",
      message: "You asked for this change, so someone else must approve it (two-person rule).",
    };
  }
  if (decision === "approve" && deps.writePause) {
    const pause = await deps.writePause();
    if (pause) {
      return {
        rule: "writes-paused",
        message: `New write approvals are paused (${pause.rule}: ${pause.reason})${pause.until ? ` until ${pause.until}` : ""}; ${RESUME_HINT}. Nothing was run.`,
      };
    }
  }
  if (decision === "approve" && digest === undefined) {
    return {
      rule: "digest-required",
      message: `An approval must carry the digest of the card it was given on; nothing was run. Use the card's Approve button.`,
    };
  }
  if (digest !== undefined && digest !== action.digest) {
    return {
      rule: "stale-card",
      message: `The card you clicked showed a different version of action ${action.id} (digest ${shortDigest(digest)}, stored ${shortDigest(action.digest)}); nothing was run. Review the current card before deciding.`,
    };
  }
  return undefined;
}
