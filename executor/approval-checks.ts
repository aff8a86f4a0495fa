import { z } from "zod";
import { RESUME_HINT } from "../core/observability/anomaly.ts";
import { shortDigest } from "../core/actions/digest.ts";
import type { Decision, PendingAction } from "../core/actions/schema.ts";
import { identitySchema, sameIdentity, type Identity } from "../core/identity/identity.ts";
import {
  evaluatePolicy,
  namesUser,
  type ApprovalPolicy,
  type PolicyVerdict,
} from "../core/actions/approval-policy.ts";
import {
  identityKindRefusal,
  isGroupMember,
  type ApproverPolicy,
  type DecisionContext,
} from "./approvers.ts";

/**
 * The checks a decision passes before it may change an action's state, apart
 * from the run: the request's shape, the executor's cluster, the identity kind,
 * the approval policy (its rule for this action: who may approve, the
 * requester and their team, break-glass), the write pause and the card's
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
    /** The typed reason of a break-glass approval (the card's Break glass modal). */
    breakGlass: z.string().max(500).optional(),
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
  /** Who may approve what, how many, and when; the executor's own copy, evaluated at each click. */
  policy: ApprovalPolicy;
  clusterName: string;
  /** The anomaly circuit breaker: while set, approvals are refused. */
  writePause?: (() => Promise<{ rule: string; reason: string; until?: string } | undefined>) | undefined;
  /** The clock the policy's time conditions read (tests inject it). */
  now: () => Date;
}

export interface DecisionUnderCheck {
  action: PendingAction;
  approver: Identity;
  decision: Decision;
  digest: string | undefined;
  /** The typed reason of a break-glass approval, if the approver used break-glass. */
  breakGlass: string | undefined;
}

/** A decision the checks let through, with the policy rule that judged it. */
export interface CheckedDecision {
  /** The approving rule; undefined only for a requester cancelling an action the policy refuses. */
  verdict: Extract<PolicyVerdict, { kind: "approve" }> | undefined;
  /** The approver counts as a break-glass approver (alone, with the reason given). */
  breakGlass: boolean;
}

export type CheckResult =
  | { ok: true; checked: CheckedDecision }
  | { ok: false; refusal: CheckRefusal & { policyRule?: string | undefined } };

/** The declared groups (by name) a person is in now, as far as this executor can tell. */
async function groupsOf(
  deps: DecisionCheckDeps,
  identity: Identity,
  names: readonly string[],
  context: DecisionContext,
  isApprover: boolean,
): Promise<string[]> {
  const found = await Promise.all(
    names.map(async (name) =>
      (await isGroupMember(deps.approvers, identity, deps.policy.groups[name] ?? "", context, isApprover))
        ? name
        : undefined,
    ),
  );
  return found.filter((name): name is string => name !== undefined);
}

/** Whether any rule looks at the requester's groups: only then are they resolved. */
function readsRequesterGroups(policy: ApprovalPolicy): boolean {
  return policy.teams.length > 0 || policy.rules.some((rule) => rule.when.includes("requester"));
}

/** The first rule this decision breaks, or the policy rule that lets it go ahead. */
export async function checkDecision(
  deps: DecisionCheckDeps,
  { action, approver, decision, digest, breakGlass }: DecisionUnderCheck,
  context: DecisionContext,
): Promise<CheckResult> {
  const refuse = (rule: string, message: string, policyRule?: string): CheckResult => ({
    ok: false,
    refusal: { rule, message, policyRule },
  });
  // An executor acts on its own cluster only: the cluster is part of what the approver saw.
  if (action.cluster !== deps.clusterName) {
    return refuse(
      "wrong-cluster",
      `Action ${action.id} was proposed for cluster ${action.cluster}; this executor runs changes on cluster ${deps.clusterName} only. Nothing was done.`,
    );
  }
  const kindRefusal = identityKindRefusal(deps.approvers, approver);
  if (kindRefusal) return refuse("local-identity-refused", kindRefusal);
  const { policy } = deps;
  const requesterGroups = readsRequesterGroups(policy)
    ? await groupsOf(deps, action.requester, Object.keys(policy.groups), context, false)
    : [];
  const verdict = evaluatePolicy(policy, { action, requesterGroups, now: deps.now() });
  const cancellingOwn = decision === "reject" && sameIdentity(approver, action.requester);
  if (verdict.kind === "error") return refuse("policy-error", verdict.reason, verdict.rule);
  if (verdict.kind === "refuse") {
    // Nothing can be approved; the requester may still withdraw it.
    if (cancellingOwn) return { ok: true, checked: { verdict: undefined, breakGlass: false } };
    return refuse(
      "policy-refused",
      `${verdict.reason} (approval policy, rule "${verdict.rule}"). Nothing was run.`,
      verdict.rule,
    );
  }
  const inGroups = (names: readonly string[]): Promise<string[]> =>
    groupsOf(deps, approver, names, context, true);
  const listed =
    namesUser(verdict.approvers.users, approver) || (await inGroups(verdict.approvers.groups)).length > 0;
  let glass = false;
  if (breakGlass !== undefined && decision === "approve") {
    if (!verdict.breakGlass || (await inGroups([verdict.breakGlass])).length === 0) {
      return refuse(
        "break-glass-not-allowed",
        `${approver.name ?? approver.id} may not use break-glass on this action${verdict.breakGlass ? ` (only members of ${verdict.breakGlass} may)` : " (its rule names no break-glass group)"}; nothing was run.`,
        verdict.rule,
      );
    }
    if (breakGlass.trim().length < 3) {
      return refuse(
        "break-glass-reason-required",
        "A break-glass approval needs a typed reason (why this cannot wait for the usual approvers); nothing was run.",
        verdict.rule,
      );
    }
    glass = true;
  }
  if (!listed && !glass && !cancellingOwn) {
    return refuse(
      "approver-not-authorised",
      `${approver.name ?? approver.id} is not an authorised approver; ask an on-call approver to decide.`,
      verdict.rule,
    );
  }
  if (decision === "approve" && sameIdentity(approver, action.requester) && !verdict.requesterMayApprove) {
    return refuse(
      "two-person-rule",
      "You asked for this change, so someone else must approve it (two-person rule).",
      verdict.rule,
    );
  }
  if (decision === "approve" && !glass && !verdict.requesterTeamMayApprove && policy.teams.length > 0) {
    const requesterTeams = await groupsOf(deps, action.requester, policy.teams, context, false);
    const shared = requesterTeams.length > 0 ? await inGroups(requesterTeams) : [];
    if (shared.length > 0) {
      return refuse(
        "requester-team",
        `${approver.name ?? approver.id} is in the requester's own team (${shared.join(", ")}); the approval policy's rule "${verdict.rule}" needs an approver from outside it. Nothing was run.`,
        verdict.rule,
      );
    }
  }
  if (decision === "approve" && deps.writePause) {
    const pause = await deps.writePause();
    if (pause) {
      return refuse(
        "writes-paused",
        `New write approvals are paused (${pause.rule}: ${pause.reason})${pause.until ? ` until ${pause.until}` : ""}; ${RESUME_HINT}. Nothing was run.`,
      );
    }
  }
  if (decision === "approve" && digest === undefined) {
    return refuse(
      "digest-required",
      `An approval must carry the digest of the card it was given on; nothing was run. Use the card's Approve button.`,
    );
  }
  if (digest !== undefined && digest !== action.digest) {
    return refuse(
      "stale-card",
      `The card you clicked showed a different version of action ${action.id} (digest ${shortDigest(digest)}, stored ${shortDigest(action.digest)}); nothing was run. Review the current card before deciding.`,
    );
  }
  return { ok: true, checked: { verdict, breakGlass: glass } };
}
