import { z } from "zod";
import { RESUME_HINT } from "../core/anomaly.ts";
import type { AuditLog } from "../core/audit.ts";
import { describeError, isDeputyError } from "../core/errors.ts";
import { identitySchema, sameIdentity, type Identity } from "../core/identity.ts";
import { KubeApiError } from "../core/kube/errors.ts";
import type { Logger } from "../core/logger.ts";
import type { OpenBaoRoles } from "../core/openbao-roles.ts";
import type { Decision, DecisionResult, PendingAction } from "../core/pending.ts";
import { roleFor } from "./action-types.ts";
import { ACTION_ID_PATTERN, actionDigest, type ActionStore } from "./action-store.ts";
import {
  identityKindRefusal,
  isAuthorisedApprover,
  type ApproverPolicy,
  type DecisionContext,
} from "./approvers.ts";
import type { CredentialBroker } from "./credential-broker.ts";
import { createKubeWriter, type ClusterEndpoint } from "./kube-writer.ts";
import { OpenBaoError } from "./openbao-client.ts";
import { runners } from "./runners/index.ts";
import { ActionFailed } from "./runners/types.ts";

/**
 * The approval executor (invariant 1). `decide` is its whole surface: an API of
 * the executor, never an MCP tool, so the model has no path to it. An approval
 * runs only if the approver is authorised, is not the requester (two-person
 * rule, configurable per risk), and wins the atomic pending → approved
 * transition before the action expires; then exactly the stored arguments run
 * with a just-in-time credential that is revoked when they finish.
 */

export interface DecisionRequest {
  actionId: string;
  approver: Identity;
  decision: Decision;
}

/** What the bot calls: the in-process executor or the HTTP client, same shape. */
export interface ApprovalDecider {
  decide(request: DecisionRequest, context?: DecisionContext): Promise<DecisionResult>;
}

export { isAuthorisedApprover, type ApproverPolicy, type DecisionContext };

export interface ApprovalExecutor extends ApprovalDecider {
  /** Fail actions a crashed executor left in approved/executing; never re-run them. */
  reconcile(options?: { olderThanMs?: number }): Promise<PendingAction[]>;
  /** Mark overdue pending actions expired (audited). */
  expireDue(): Promise<string[]>;
}

export interface ApprovalExecutorDeps {
  store: ActionStore;
  broker: CredentialBroker;
  roles: OpenBaoRoles;
  cluster: ClusterEndpoint;
  audit: AuditLog;
  logger: Logger;
  approvers: ApproverPolicy;
  /** Whether the requester is barred from approving their own action, per risk level. */
  twoPersonRule: { normal: boolean; high: boolean };
  protectedNamespaces: readonly string[];
  clusterName: string;
  /** The anomaly circuit breaker (core/anomaly.ts): while set, approvals are refused. */
  writePause?: () => Promise<{ rule: string; reason: string; until?: string } | undefined>;
  /** Kubernetes call retries (tests shorten them). */
  kubeRetry?: { attempts: number; baseMs: number; capMs: number };
}

export const decisionRequestSchema = z
  .object({
    actionId: z.string().max(128),
    approver: identitySchema,
    decision: z.enum(["approve", "reject"]),
  })
  .strict();

export function createApprovalExecutor(deps: ApprovalExecutorDeps): ApprovalExecutor {
  const logger = deps.logger.child({ component: "approval-executor" });

  function refused(
    rule: string,
    message: string,
    action: PendingAction | undefined,
    approver: Identity | undefined,
    decision: Decision | undefined,
  ): DecisionResult {
    deps.audit.record({
      kind: "approval_decision",
      decision: "refused",
      rule,
      message,
      cluster: deps.clusterName,
      ...(action
        ? {
            actionId: action.id,
            tool: action.tool,
            actor: action.requester,
            conversation: action.conversation,
          }
        : {}),
      ...(approver ? { approver } : {}),
      ...(decision ? { details: { requested: decision } } : {}),
    });
    logger.info({ rule, actionId: action?.id }, "decision refused");
    return { status: "refused", rule, message, action };
  }

  async function execute(approved: PendingAction, approver: Identity): Promise<DecisionResult> {
    let action = approved;
    const started = performance.now();
    const begun = await deps.store.beginExecution(action.id);
    if (!begun.ok) {
      const current = begun.reason === "missing" ? action : begun.action;
      return {
        status: "not_pending",
        message: `Action ${action.id} is ${current.state}; it was not run again.`,
        action: current,
      };
    }
    // Run what is stored now, and only if it is still exactly what was approved.
    if (begun.action.digest !== action.digest || actionDigest(begun.action) !== action.digest) {
      const message = `Action ${action.id} changed in storage after approval (digest mismatch); it was not run.`;
      deps.audit.record({ kind: "anomaly", actionId: action.id, rule: "tampered", message });
      const failed = await deps.store.finish(action.id, "failed", {
        message,
        finishedAt: new Date().toISOString(),
      });
      return { status: "failed", message, action: failed.ok ? failed.action : begun.action };
    }
    action = begun.action;
    let leaseId: string | undefined;
    let revoked = true;
    let outcome: { state: "succeeded" | "failed"; message: string; kubeStatus: number | undefined };
    try {
      const runner = runners[action.tool];
      if (!runner) throw new ActionFailed("INPUT_INVALID", `No executor is defined for tool ${action.tool}`);
      const role = roleFor(deps.roles, action.tool, action.arguments);
      const used = await deps.broker.withCredential(
        { role, namespace: action.target.namespace },
        async (credential) => {
          const kube = createKubeWriter(
            deps.cluster,
            credential.token,
            deps.kubeRetry ? { retry: deps.kubeRetry } : {},
          );
          try {
            return await runner({ kube, action, protectedNamespaces: deps.protectedNamespaces, logger });
          } finally {
            kube.close();
          }
        },
        {
          onLease: async (id) => {
            leaseId = id;
            await deps.store.recordLease(action.id, id);
          },
          onRevoke: (ok) => {
            revoked = ok;
          },
        },
      );
      outcome = { state: "succeeded", message: used.value.message, kubeStatus: used.value.kubeStatus };
    } catch (error) {
      outcome = { state: "failed", ...failureOf(error, leaseId !== undefined) };
    }
    if (leaseId && !revoked) {
      outcome.message += ` Warning: lease ${leaseId} could not be revoked now; it ends with its OpenBao token within 60 s.`;
    }
    const durationMs = Math.round(performance.now() - started);
    const finished = await deps.store.finish(action.id, outcome.state, {
      message: outcome.message,
      ...(outcome.kubeStatus === undefined ? {} : { kubeStatus: outcome.kubeStatus }),
      ...(leaseId ? { leaseId } : {}),
      durationMs,
      finishedAt: new Date().toISOString(),
    });
    const final = finished.ok ? finished.action : ((await deps.store.get(action.id)) ?? action);
    deps.audit.record({
      kind: "execution",
      actionId: action.id,
      tool: action.tool,
      arguments: action.arguments,
      actor: action.requester,
      approver,
      conversation: action.conversation,
      cluster: deps.clusterName,
      outcome: outcome.state,
      message: outcome.message,
      durationMs,
      ...(leaseId ? { leaseId } : {}),
      ...(outcome.kubeStatus === undefined ? {} : { kubeStatus: outcome.kubeStatus }),
      details: { leaseRevoked: leaseId ? revoked : undefined },
    });
    return { status: outcome.state, message: outcome.message, action: final };
  }

  return {
    async decide(request, context = {}) {
      const parsed = decisionRequestSchema.safeParse(request);
      if (!parsed.success) {
        const problems = parsed.error.issues
          .map((i) => `${i.path.join(".") || "request"}: ${i.message}`)
          .join("; ");
        return refused(
          "invalid-request",
          `The decision request is invalid: ${problems}`,
          undefined,
          undefined,
          undefined,
        );
      }
      const { actionId, approver, decision } = parsed.data;
      const action = ACTION_ID_PATTERN.test(actionId) ? await deps.store.get(actionId) : undefined;
      if (!action) {
        return refused(
          "unknown-action",
          `There is no pending action with id ${actionId}.`,
          undefined,
          approver,
          decision,
        );
      }

      const kindRefusal = identityKindRefusal(deps.approvers, approver);
      if (kindRefusal) return refused("local-identity-refused", kindRefusal, action, approver, decision);
      const authorised = await isAuthorisedApprover(deps.approvers, approver, context);
      const cancellingOwn = decision === "reject" && sameIdentity(approver, action.requester);
      if (!authorised && !cancellingOwn) {
        return refused(
          "approver-not-authorised",
          `${approver.name ?? approver.id} is not an authorised approver; ask an on-call approver to decide.`,
          action,
          approver,
          decision,
        );
      }
      if (
        decision === "approve" &&
        sameIdentity(approver, action.requester) &&
        deps.twoPersonRule[action.risk.level]
      ) {
        return refused(
          "two-person-rule",
          "You asked for this change, so someone else must approve it (two-person rule).",
          action,
          approver,
          decision,
        );
      }
      if (decision === "approve" && deps.writePause) {
        const pause = await deps.writePause();
        if (pause) {
          return refused(
            "writes-paused",
            `New write approvals are paused (${pause.rule}: ${pause.reason})${pause.until ? ` until ${pause.until}` : ""}; ${RESUME_HINT}. Nothing was run.`,
            action,
            approver,
            decision,
          );
        }
      }
      if (actionDigest(action) !== action.digest) {
        deps.audit.record({
          kind: "anomaly",
          actionId,
          rule: "tampered",
          message: "stored action no longer matches its digest",
        });
        return refused(
          "tampered",
          `Action ${actionId} no longer matches what was proposed (digest mismatch); it will not run. Propose it again.`,
          action,
          approver,
          decision,
        );
      }

      const transition = await deps.store.decide(
        actionId,
        decision === "approve" ? "approved" : "rejected",
        approver,
      );
      if (!transition.ok) {
        if (transition.reason === "missing") {
          return refused(
            "unknown-action",
            `There is no pending action with id ${actionId}.`,
            undefined,
            approver,
            decision,
          );
        }
        if (transition.reason === "expired") {
          deps.audit.record({
            kind: "approval_decision",
            actionId,
            decision: "expired",
            approver,
            tool: action.tool,
          });
          return refused(
            "expired",
            `Action ${actionId} expired at ${action.expiresAt}; nothing was run. Ask again if it is still needed.`,
            transition.action,
            approver,
            decision,
          );
        }
        const current = transition.action;
        return {
          status: "not_pending",
          message: `Action ${actionId} was already ${current.state}${current.decidedBy ? ` by ${current.decidedBy.name ?? current.decidedBy.id}` : ""}; nothing more was done.`,
          action: current,
        };
      }

      deps.audit.record({
        kind: "approval_decision",
        actionId,
        tool: action.tool,
        arguments: action.arguments,
        actor: action.requester,
        approver,
        conversation: action.conversation,
        decision: decision === "approve" ? "approved" : "rejected",
        cluster: deps.clusterName,
        // Time from proposal to the human decision (the approval-latency metric).
        durationMs: Math.max(0, Date.now() - Date.parse(action.createdAt)),
      });
      if (decision === "reject") {
        return {
          status: "rejected",
          message: `Rejected by ${approver.name ?? approver.id}; nothing was run.`,
          action: transition.action,
        };
      }
      return execute(transition.action, approver);
    },

    async reconcile({ olderThanMs = 5 * 60_000 } = {}) {
      const stale = await deps.store.listStale(olderThanMs);
      const reconciled: PendingAction[] = [];
      for (const action of stale) {
        const leaseId = await deps.store.leaseOf(action.id);
        if (leaseId) {
          try {
            await deps.broker.revokeLease(leaseId);
          } catch (error) {
            logger.warn(
              { actionId: action.id, leaseId, err: describeError(error) },
              "could not revoke orphan lease",
            );
          }
        }
        const message =
          action.state === "executing"
            ? "The executor stopped while this action was running; it was not run again. Check the cluster for its effect."
            : "The executor stopped after approval, before running; it was not run.";
        const result = await deps.store.finish(action.id, "failed", {
          message,
          ...(leaseId ? { leaseId } : {}),
          finishedAt: new Date().toISOString(),
        });
        if (!result.ok) continue;
        deps.audit.record({
          kind: "execution",
          actionId: action.id,
          tool: action.tool,
          outcome: "failed",
          rule: "crash-reconciliation",
          message,
          ...(leaseId ? { leaseId } : {}),
        });
        reconciled.push(result.action);
      }
      return reconciled;
    },

    async expireDue() {
      const ids = await deps.store.expireDue();
      for (const id of ids)
        deps.audit.record({ kind: "approval_decision", actionId: id, decision: "expired" });
      return ids;
    },
  };
}

/** A failure as a sentence for the thread, with the API status when there is one. */
function failureOf(
  error: unknown,
  credentialObtained: boolean,
): { message: string; kubeStatus: number | undefined } {
  if (error instanceof ActionFailed) return { message: error.message, kubeStatus: error.kubeStatus };
  if (error instanceof KubeApiError) {
    return {
      message: `Kubernetes refused the change (${error.status}${error.reason ? ` ${error.reason}` : ""}): ${error.message}`,
      kubeStatus: error.status,
    };
  }
  if (!credentialObtained && (error instanceof OpenBaoError || isDeputyError(error))) {
    return {
      message: `No just-in-time credential could be obtained from OpenBao (${describeError(error)}); nothing was done.`,
      kubeStatus: undefined,
    };
  }
  return { message: `The action failed: ${describeError(error)}`, kubeStatus: undefined };
}
