import type { AuditLog } from "../core/audit/log.ts";
import { describeError, isDeputyError } from "../core/errors.ts";
import { sameIdentity, type Identity } from "../core/identity/identity.ts";
import { KubeApiError } from "../core/kube/errors.ts";
import type { Logger } from "../core/observability/logger.ts";
import { isRedisUnavailable } from "../core/state/redis.ts";
import { roleForAction, type OpenBaoRoles } from "../core/identity/openbao-roles.ts";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { ActionFailed, describeTarget, type WriteAnswer } from "../core/actions/action-type.ts";
import type { ActionStep, Decision, DecisionResult, PendingAction } from "../core/actions/schema.ts";
import {
  ACTION_ID_PATTERN,
  ActionStateRegressed,
  ActionTampered,
  ActionUnconfirmed,
  type ActionStore,
  type UnrevokedLeaseRecord,
} from "../core/actions/store.ts";
import { actionTypeOf } from "../core/actions/types/index.ts";
import { boundWrite } from "../core/actions/bound-write.ts";
import { diffObjects, normaliseObject, resultDigest, type Effect } from "../core/actions/effect.ts";
import { approvalViewOf, viewFitsSlack } from "../core/actions/view.ts";
import { ActionTimedOut, actionBudgetMs, leaseTtlSeconds } from "../core/actions/budget.ts";
import type { AlertSink } from "../core/observability/alerts.ts";
import {
  approverMentions,
  defaultApprovalPolicy,
  type ApprovalPolicy,
  type PolicyVerdict,
} from "../core/actions/approval-policy.ts";
import type { ApprovalProgress } from "../core/actions/schema.ts";
import type { ApprovalRecord } from "../core/actions/store.ts";
import { checkDecision, decisionRequestSchema, parseDecisionRequest } from "./approval-checks.ts";
import { isAuthorisedApprover, type ApproverPolicy, type DecisionContext } from "./approvers.ts";
import type { CredentialBroker, UnrevokedLease } from "./credential-broker.ts";
import { createKubeWriter, KubeOutcomeUnknown, type ClusterEndpoint } from "./kube-writer.ts";
import { OpenBaoError } from "./openbao-client.ts";

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
  /** The digest the clicked card showed: an approval is for that content only. */
  digest?: string | undefined;
  approver: Identity;
  decision: Decision;
  /** The typed reason of a break-glass approval (required to use break-glass). */
  breakGlass?: string | undefined;
}

/** What the bot calls: the in-process executor or the HTTP client, same shape. */
export interface ApprovalDecider {
  decide(request: DecisionRequest, context?: DecisionContext): Promise<DecisionResult>;
}

export { isAuthorisedApprover, type ApproverPolicy, type DecisionContext };

export interface ApprovalExecutor extends ApprovalDecider {
  /**
   * Actions whose executor stopped: executing ones whose owner stopped
   * sending heartbeats become `interrupted` (with the steps done and not
   * done, their lease revoked, the thread told); approved ones that never
   * began become `failed`. Never re-run. Safe to call from every replica at
   * any time: a live owner's actions are left alone.
   */
  reconcile(): Promise<PendingAction[]>;
  /** Refresh the heartbeat of the actions this executor is running. */
  heartbeat(): Promise<void>;
  /** This executor's identity as an owner of running actions. */
  readonly owner: string;
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
  /**
   * Who may approve what, how many, and when (DEPUTY_APPROVAL_POLICY); unset:
   * the built-in policy stating `approvers` and `twoPersonRule` as rules.
   */
  policy?: ApprovalPolicy;
  /** The clock the policy's time conditions read (default: the system clock). */
  now?: () => Date;
  /** Where a break-glass approval is announced (the alert channel, through Redis). */
  alerts?: AlertSink;
  protectedNamespaces: readonly string[];
  clusterName: string;
  /** The anomaly circuit breaker (core/observability/anomaly.ts): while set, approvals are refused. */
  writePause?: () => Promise<{ rule: string; reason: string; until?: string } | undefined>;
  /** Kubernetes call retries (tests shorten them). */
  kubeRetry?: { attempts: number; baseMs: number; capMs: number };
  /** Who this executor is, as the owner of the actions it runs (default: host, pid and a random part). */
  owner?: string;
  /** An executing action whose owner sent no heartbeat for this long is interrupted (default 30 s). */
  staleAfterMs?: number;
  /** Tells the conversation what became of an action decided earlier (an interrupted run). */
  notify?: (action: PendingAction, text: string) => Promise<void>;
  /** The longest any action may run (default MAX_ACTION_BUDGET_MS, 50 min); tests shorten it. */
  maxActionMs?: number;
}

export { decisionRequestSchema };

export function createApprovalExecutor(deps: ApprovalExecutorDeps): ApprovalExecutor {
  const logger = deps.logger.child({ component: "approval-executor" });
  const owner = deps.owner ?? `${hostname()}/${process.pid}/${randomBytes(4).toString("hex")}`;
  const staleAfterMs = deps.staleAfterMs ?? 30_000;
  const now = deps.now ?? (() => new Date());
  const policy =
    deps.policy ??
    defaultApprovalPolicy({
      approvers: deps.approvers.slackUserIds,
      group: deps.approvers.group,
      twoPersonRule: deps.twoPersonRule,
      localApproverIds: deps.approvers.localIdentities ? deps.approvers.localApproverIds : [],
    });
  /** What every decision's audit record says about the policy that judged it. */
  const policyDetails = (rule: string | undefined): Record<string, unknown> => ({
    policy: { hash: policy.hash, source: policy.source, ...(rule ? { rule } : {}) },
  });
  /** What the card shows of the rule that applies: who may approve, and who has. */
  const progressOf = (
    verdict: Extract<PolicyVerdict, { kind: "approve" }>,
    given: readonly ApprovalRecord[],
    requester: Identity,
  ): ApprovalProgress => ({
    rule: verdict.rule,
    policyHash: policy.hash,
    required: verdict.required,
    mayApprove: approverMentions(policy, verdict.approvers),
    approvals: given
      .filter((record) => !sameIdentity(record.approver, requester) || verdict.requesterMayApprove)
      .map((record) => record.approver),
    ...(verdict.breakGlass
      ? { breakGlass: approverMentions(policy, { users: [], groups: [verdict.breakGlass] })[0]! }
      : {}),
  });
  /** Actions this executor is running now: their heartbeats are sent, never reaped here. */
  const running = new Set<string>();
  /**
   * What this executor decided, most recent last: a record rolled back whole in
   * Redis (decision fields erased, state set to pending) still carries a valid
   * proposal MAC, so only a memory outside Redis can tell it was decided.
   */
  const decided = new Map<string, "approved" | "rejected">();
  const remember = (id: string, decision: "approved" | "rejected"): void => {
    decided.set(id, decision);
    if (decided.size > 10_000) decided.delete(decided.keys().next().value!);
  };

  /**
   * A lease that outlived its action (OpenBao sealed or unreachable): kept for
   * revocation until it succeeds, raised as an anomaly naming the lease and
   * its account, and said truthfully: the account stays until revoked, and
   * its Kubernetes token works until its own expiry, never under 600 s.
   */
  async function leaseOutlived(
    action: PendingAction,
    leaseId: string,
    lost: UnrevokedLease | undefined,
  ): Promise<string> {
    const serviceAccount = lost?.serviceAccount ?? "(unknown)";
    const record = {
      leaseId,
      actionId: action.id,
      cluster: action.cluster,
      serviceAccount,
      ...(lost?.tokenExpiresAt ? { tokenExpiresAt: lost.tokenExpiresAt } : {}),
      since: new Date().toISOString(),
    };
    await deps.store
      .rememberUnrevokedLease(record)
      .catch((error: unknown) =>
        logger.error({ leaseId, err: describeError(error) }, "could not keep the lease for revocation"),
      );
    const message = unrevokedLeaseMessage(record, lost?.reason);
    deps.audit.record({
      kind: "anomaly",
      actionId: action.id,
      tool: action.tool,
      cluster: deps.clusterName,
      rule: "lease-not-revoked",
      leaseId,
      message,
      details: { serviceAccount, tokenExpiresAt: record.tokenExpiresAt },
    });
    return message;
  }

  /** Leases whose revocation failed earlier: revoked now if OpenBao can, and the alert says so. */
  async function retryRevocations(): Promise<void> {
    for (const lease of await deps.store.unrevokedLeases()) {
      if (lease.cluster !== deps.clusterName) continue;
      try {
        await deps.broker.revokeLease(lease.leaseId);
      } catch (error) {
        logger.warn({ leaseId: lease.leaseId, err: describeError(error) }, "lease still not revoked");
        continue;
      }
      await deps.store.forgetUnrevokedLease(lease.leaseId);
      const late = Math.round((Date.now() - Date.parse(lease.since)) / 1000);
      deps.audit.record({
        kind: "anomaly",
        actionId: lease.actionId,
        cluster: deps.clusterName,
        rule: "lease-revoked-late",
        leaseId: lease.leaseId,
        message: `Lease ${lease.leaseId} (service account ${lease.serviceAccount}) was revoked at ${new Date().toISOString()}, ${late} s after its action ended; the account and its token are gone now.`,
        details: { serviceAccount: lease.serviceAccount, lateSeconds: late },
      });
    }
  }

  /** A stored action that moved backwards: never decided again, reported as an anomaly. */
  function regressed(
    actionId: string,
    from: string,
    to: string,
    approver: Identity,
    decision: Decision,
  ): DecisionResult {
    const message = `Action ${actionId} was already ${from}, but Redis now says ${to}: its state moved backwards, so it will not be decided or run again. This has been reported.`;
    deps.audit.record({
      kind: "anomaly",
      actionId,
      rule: "state-regressed",
      message,
      approver,
      details: { proven: from, stored: to },
    });
    return refused({ rule: "state-regressed", message, approver, decision });
  }

  /**
   * A decision the primary took but the replicas did not confirm: an approval
   * is not run (the action is closed as failed where Redis lets it), a
   * rejection is said to be at risk. Either way, the sentence says so.
   */
  async function unconfirmedDecision(
    error: ActionUnconfirmed,
    approver: Identity,
    decision: Decision,
  ): Promise<DecisionResult> {
    const action = error.action;
    if (decision === "reject") {
      return refused({
        rule: "replication-unconfirmed",
        message: `Your rejection of action ${action.id} was recorded, but ${error.message}. If the action shows as pending again later, reject it again. Nothing was run.`,
        action,
        approver,
        decision,
      });
    }
    const message = `Your approval of action ${action.id} was not acted on: ${error.message}. Nothing was run and nothing was changed; propose it again once Redis has its replicas back.`;
    const closed = await finishRecorded(action.id, "failed", {
      message,
      finishedAt: new Date().toISOString(),
    }).catch(() => ({ action: undefined }));
    return refused({
      rule: "replication-unconfirmed",
      message,
      action: closed.action ?? action,
      approver,
      decision,
    });
  }

  /** A decision refused by a named rule: audited, logged, and answered with that sentence. */
  function refused({
    rule,
    message,
    action,
    approver,
    decision,
    policyRule,
  }: {
    rule: string;
    message: string;
    action?: PendingAction | undefined;
    approver?: Identity | undefined;
    decision?: Decision | undefined;
    policyRule?: string | undefined;
  }): DecisionResult {
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
      details: { ...(decision ? { requested: decision } : {}), ...policyDetails(policyRule) },
    });
    logger.info({ rule, actionId: action?.id }, "decision refused");
    return { status: "refused", rule, message, action };
  }

  /** A break-glass approval pages everyone: the alert channel hears who, what and why. */
  async function announceBreakGlass(
    action: PendingAction,
    approver: Identity,
    reason: string,
  ): Promise<void> {
    // Alert text is plain (the alert channel sanitises it): the person by name and id, not a mention.
    const who = approver.name ? `${approver.name} (${approver.id})` : approver.id;
    const alert = {
      rule: "break-glass",
      severity: "critical" as const,
      text: `Break-glass: ${who} approved ${action.tool} on ${describeTarget(action.target)} in cluster ${action.cluster} alone, without the usual approvers. Reason given: "${reason}". Review it.`,
      writesPaused: false,
      at: now().toISOString(),
      payload: { actionId: action.id, approver: approver.id, reason },
    };
    deps.audit.record({
      kind: "anomaly",
      actionId: action.id,
      tool: action.tool,
      cluster: deps.clusterName,
      rule: "break-glass",
      approver,
      message: alert.text,
      details: { reason, ...policyDetails(undefined) },
    });
    await deps.alerts
      ?.postAlert(alert)
      .catch((error: unknown) =>
        logger.error(
          { actionId: action.id, err: describeError(error) },
          "could not announce the break-glass approval",
        ),
      );
  }

  /**
   * Record an outcome. One the replicas did not confirm is still the outcome (it
   * happened), with a sentence saying a failover could lose its record.
   */
  async function finishRecorded(
    id: string,
    state: "succeeded" | "failed" | "interrupted",
    outcome: Parameters<ActionStore["finish"]>[2],
  ): Promise<{ action: PendingAction | undefined; unconfirmed?: string }> {
    try {
      const result = await deps.store.finish(id, state, outcome);
      return { action: result.ok ? result.action : undefined };
    } catch (error) {
      if (!(error instanceof ActionUnconfirmed)) throw error;
      logger.warn({ actionId: id, err: error.message }, "outcome not replicated");
      return {
        action: error.action,
        unconfirmed: `(Redis could not confirm that a replica holds this outcome: if it fails over now, the action may later be reported as interrupted; what is said here is what happened.)`,
      };
    }
  }

  async function execute(
    approved: PendingAction,
    approver: Identity,
    progress?: ApprovalProgress,
  ): Promise<DecisionResult> {
    let action = approved;
    const started = performance.now();
    let begun: Awaited<ReturnType<ActionStore["beginExecution"]>>;
    try {
      begun = await deps.store.beginExecution(action.id, owner);
    } catch (error) {
      // A start the replicas do not have could be undone by a failover and run again: not run.
      if (!(error instanceof ActionUnconfirmed)) throw error;
      const message = `Action ${action.id} was not run: ${error.message}. Nothing was changed; propose it again once Redis has its replicas back.`;
      logger.warn({ actionId: action.id, err: error.message }, "start not replicated; not run");
      const closed = await finishRecorded(action.id, "failed", {
        message,
        finishedAt: new Date().toISOString(),
      });
      return { status: "failed", message, action: closed.action ?? error.action };
    }
    if (!begun.ok) {
      const current = begun.reason === "missing" ? action : begun.action;
      return {
        status: "not_pending",
        message: `Action ${action.id} is ${current.state}; it was not run again.`,
        action: current,
      };
    }
    // Run what is stored now (its MAC verified by the store), and only if it is what was approved.
    if (begun.action.digest !== action.digest) {
      const message = `Action ${action.id} changed in storage after approval (digest mismatch); it was not run.`;
      deps.audit.record({ kind: "anomaly", actionId: action.id, rule: "tampered", message });
      const failed = await finishRecorded(action.id, "failed", {
        message,
        finishedAt: new Date().toISOString(),
      });
      return { status: "failed", message, action: failed.action ?? begun.action };
    }
    action = begun.action;
    running.add(action.id);
    // Set once the action's budget is known; no step starts after it.
    let deadline: { at: number; budgetMs: number } | undefined;
    const step = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
      if (deadline && performance.now() > deadline.at) throw new ActionTimedOut(deadline.budgetMs);
      const record = (status: "started" | "done" | "failed", detail?: string): Promise<void> =>
        deps.store.recordStep(action.id, {
          step: name,
          status,
          at: new Date().toISOString(),
          ...(detail ? { detail: detail.slice(0, 500) } : {}),
        });
      await record("started");
      let value: T;
      try {
        value = await work();
      } catch (error) {
        await record("failed", describeError(error)).catch(() => undefined);
        throw error;
      }
      // Done is done: a state store lost now (a failover) must not turn a change made into a failure.
      await record("done").catch((error: unknown) =>
        logger.warn({ actionId: action.id, step: name, err: describeError(error) }, "step done not recorded"),
      );
      return value;
    };
    let leaseId: string | undefined;
    /** The API server's answer to the bound write, compared with the approved result afterwards. */
    let written: WriteAnswer | undefined;
    let planned: string[] = [];
    let revoked = true;
    let unrevoked: UnrevokedLease | undefined;
    let outcome: { state: "succeeded" | "failed"; message: string; kubeStatus: number | undefined };
    try {
      const type = actionTypeOf(action.tool);
      if (!type) throw new ActionFailed("INPUT_INVALID", `No action type is declared for ${action.tool}`);
      const args = type.args.safeParse(action.arguments);
      const evidence = type.evidence.safeParse(action.evidence);
      if (!args.success || !evidence.success) {
        throw new ActionFailed(
          "INPUT_INVALID",
          `The stored ${action.tool} action does not match its declaration`,
        );
      }
      // What was never shown whole was never approved: refuse before any credential exists.
      const view = approvalViewOf(action);
      if (view.unapprovable)
        throw new ActionFailed("INPUT_INVALID", `${view.unapprovable} Nothing was done.`);
      if (!viewFitsSlack(view)) {
        throw new ActionFailed(
          "INPUT_INVALID",
          `The stored ${action.tool} change is longer than Slack can show whole, so nobody saw all of it; nothing was done.`,
        );
      }
      const role = roleForAction(deps.roles, type.name, type.roleKind?.(args.data));
      // An overall deadline, and a credential that lives as long as the action may (within a bound).
      const budgetMs = actionBudgetMs(type.budgetMs?.(args.data, evidence.data), deps.maxActionMs);
      deadline = { at: performance.now() + budgetMs, budgetMs };
      planned = type.plannedSteps ? type.plannedSteps(args.data) : [wholeStep(action)];
      const used = await deps.broker.withCredential(
        {
          role,
          namespace: action.target.namespace,
          ttlSeconds: leaseTtlSeconds(budgetMs, deps.roles.secretsEngine.token_max_ttl),
          runForMs: budgetMs,
        },
        async (credential) => {
          const kube = createKubeWriter(
            deps.cluster,
            credential.token,
            deps.kubeRetry ? { retry: deps.kubeRetry } : {},
          );
          const request = type.request?.(args.data, evidence.data, action.target);
          const run = () =>
            type.run({
              kube,
              action,
              args: args.data,
              evidence: evidence.data,
              effect: action.effect,
              writeApproved: () => {
                if (!request) throw new ActionFailed("INPUT_INVALID", `${action.tool} declares no request`);
                return boundWrite({ kube, action, effect: action.effect }, request).then((answer) => {
                  written = answer;
                  return answer;
                });
              },
              protectedNamespaces: deps.protectedNamespaces,
              logger,
              step,
            });
          let timer: NodeJS.Timeout | undefined;
          const timedOut = new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new ActionTimedOut(budgetMs)), budgetMs);
          });
          try {
            // An action that names its steps records them itself; any other is one step.
            const running = type.plannedSteps ? run() : step(wholeStep(action), run);
            running.catch(() => undefined); // past the deadline its failure is reported as the timeout
            return await Promise.race([running, timedOut]);
          } finally {
            clearTimeout(timer);
            kube.close();
          }
        },
        {
          onLease: async (id) => {
            leaseId = id;
            await deps.store.recordLease(action.id, id);
          },
          onRevoke: (ok, lost) => {
            revoked = ok;
            unrevoked = lost;
          },
        },
      );
      const differs = writtenDiffers(written, action.effect);
      if (differs) {
        // Written, but not as approved (a webhook that acts only on real writes, a racing
        // create): the run is not a success, and it is an anomaly for the audit trail.
        const message = `${used.value.message} But the API server's answer to the write differs from the approved result (${differs}): the object is not what was approved; check it.`;
        deps.audit.record({ kind: "anomaly", actionId: action.id, rule: "result-differs", message });
        outcome = { state: "failed", message, kubeStatus: used.value.kubeStatus };
      } else {
        outcome = {
          state: "succeeded",
          message: `${used.value.message}${written ? " The API server's answer to the write is the approved result." : ""}`,
          kubeStatus: used.value.kubeStatus,
        };
      }
    } catch (error) {
      outcome =
        error instanceof ActionTimedOut
          ? {
              state: "failed",
              message: timedOutMessage(error, planned, await deps.store.steps(action.id), revoked),
              kubeStatus: undefined,
            }
          : {
              state: "failed",
              ...failureOf(error, leaseId !== undefined, {
                planned,
                steps: planned.length > 1 ? await deps.store.steps(action.id) : [],
              }),
            };
    }
    if (leaseId && !revoked) outcome.message += ` ${await leaseOutlived(action, leaseId, unrevoked)}`;
    running.delete(action.id);
    const durationMs = Math.round(performance.now() - started);
    const finished = await finishRecorded(action.id, outcome.state, {
      message: outcome.message,
      ...(outcome.kubeStatus === undefined ? {} : { kubeStatus: outcome.kubeStatus }),
      ...(leaseId ? { leaseId } : {}),
      durationMs,
      finishedAt: new Date().toISOString(),
    });
    if (finished.unconfirmed) outcome.message += ` ${finished.unconfirmed}`;
    const final = finished.action ?? (await deps.store.get(action.id)) ?? action;
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
    return {
      status: outcome.state,
      message: outcome.message,
      action: final,
      ...(progress ? { approval: progress } : {}),
    };
  }

  return {
    async decide(request, context = {}) {
      const parsed = parseDecisionRequest(request);
      if (!parsed.ok) return refused(parsed.refusal);
      const { actionId, approver, decision, digest } = parsed.request;
      /** What Redis holds failed its checks: never run it, say so, and raise the alarm. */
      const untrusted = (error: unknown): DecisionResult => {
        if (error instanceof ActionStateRegressed) {
          return regressed(actionId, error.proven, error.stored, approver, decision);
        }
        if (!(error instanceof ActionTampered)) throw error;
        deps.audit.record({ kind: "anomaly", actionId, rule: "tampered", message: error.message, approver });
        return refused({
          rule: "tampered",
          message: `Action ${actionId} failed its integrity check: what is stored is not what was proposed, so it will not run. This has been reported; propose the change again.`,
          approver,
          decision,
        });
      };
      let action: PendingAction | undefined;
      try {
        action = ACTION_ID_PATTERN.test(actionId) ? await deps.store.get(actionId) : undefined;
      } catch (error) {
        return untrusted(error);
      }
      if (!action) {
        return refused({
          rule: "unknown-action",
          message: `There is no pending action with id ${actionId}.`,
          approver,
          decision,
        });
      }
      const earlier = decided.get(actionId);
      if (earlier && action.state === "pending") {
        return regressed(actionId, earlier, action.state, approver, decision);
      }
      const checked = await checkDecision(
        { ...deps, policy, now },
        { action, approver, decision, digest, breakGlass: parsed.request.breakGlass },
        context,
      );
      if (!checked.ok) {
        const { policyRule, ...refusal } = checked.refusal;
        return refused({ ...refusal, policyRule, action, approver, decision });
      }
      const { verdict, breakGlass } = checked.checked;
      let progress: ApprovalProgress | undefined;
      if (decision === "approve" && verdict && !breakGlass && verdict.required > 1) {
        // A partial approval is recorded only while the action can still be approved.
        if (action.state !== "pending") {
          return {
            status: "not_pending",
            message: `Action ${actionId} was already ${action.state}${action.decidedBy ? ` by ${action.decidedBy.name ?? action.decidedBy.id}` : ""}; nothing more was done.`,
            action,
          };
        }
        if (Date.parse(action.expiresAt) <= Date.now()) {
          return refused({
            rule: "expired",
            message: `Action ${actionId} expired at ${action.expiresAt}; nothing was run. Ask again if it is still needed.`,
            action,
            approver,
            decision,
            policyRule: verdict.rule,
          });
        }
        // N of M: this approval counts for this version (digest) of the action, once per person.
        const given = await deps.store.recordApproval(action, {
          approver,
          digest: action.digest,
          at: now().toISOString(),
        });
        progress = progressOf(verdict, given, action.requester);
        if (progress.approvals.length < verdict.required) {
          const message = `${progress.approvals.length} of ${verdict.required} approvals: ${progress.approvals.map((who) => who.name ?? who.id).join(", ")}. Nothing runs until ${verdict.required - progress.approvals.length} more ${verdict.required - progress.approvals.length === 1 ? "approver approves" : "approvers approve"}.`;
          deps.audit.record({
            kind: "approval_decision",
            actionId,
            tool: action.tool,
            actor: action.requester,
            approver,
            conversation: action.conversation,
            decision: "pending",
            rule: verdict.rule,
            message,
            cluster: deps.clusterName,
            details: {
              ...policyDetails(verdict.rule),
              approvals: progress.approvals.length,
              required: verdict.required,
            },
          });
          return { status: "awaiting", message, action, approval: progress };
        }
      } else if (verdict) {
        progress = progressOf(
          verdict,
          decision === "approve" ? [{ approver, digest: action.digest, at: now().toISOString() }] : [],
          action.requester,
        );
      }
      if (breakGlass) {
        // Recorded with its reason before anything runs: the review needs it whatever happens next.
        await deps.store.recordApproval(action, {
          approver,
          digest: action.digest,
          at: now().toISOString(),
          breakGlass: parsed.request.breakGlass,
        });
      }

      let transition: Awaited<ReturnType<ActionStore["decide"]>>;
      try {
        transition = await deps.store.decide(
          actionId,
          decision === "approve" ? "approved" : "rejected",
          approver,
        );
      } catch (error) {
        if (error instanceof ActionUnconfirmed) return unconfirmedDecision(error, approver, decision);
        return untrusted(error);
      }
      if (transition.ok) remember(actionId, transition.action.state === "rejected" ? "rejected" : "approved");
      if (!transition.ok) {
        if (transition.reason === "missing") {
          return refused({
            rule: "unknown-action",
            message: `There is no pending action with id ${actionId}.`,
            approver,
            decision,
          });
        }
        if (transition.reason === "expired") {
          deps.audit.record({
            kind: "approval_decision",
            actionId,
            decision: "expired",
            approver,
            tool: action.tool,
          });
          return refused({
            rule: "expired",
            message: `Action ${actionId} expired at ${action.expiresAt}; nothing was run. Ask again if it is still needed.`,
            action: transition.action,
            approver,
            decision,
          });
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
        ...(verdict ? { rule: verdict.rule } : {}),
        details: {
          ...policyDetails(verdict?.rule),
          ...(progress ? { approvers: progress.approvals.map((who) => who.id) } : {}),
          ...(breakGlass ? { breakGlass: { reason: parsed.request.breakGlass } } : {}),
        },
      });
      if (decision === "reject") {
        return {
          status: "rejected",
          message: `Rejected by ${approver.name ?? approver.id}; nothing was run.`,
          action: transition.action,
          ...(progress ? { approval: progress } : {}),
        };
      }
      if (breakGlass) await announceBreakGlass(transition.action, approver, parsed.request.breakGlass ?? "");
      return execute(
        transition.action,
        approver,
        progress && { ...progress, ...(breakGlass ? { brokeGlass: true } : {}) },
      );
    },

    owner,

    async heartbeat() {
      if (running.size > 0) await deps.store.heartbeat([...running], owner);
    },

    async reconcile() {
      const reconciled: PendingAction[] = [];
      await retryRevocations().catch((error: unknown) =>
        logger.warn({ err: describeError(error) }, "could not retry lease revocations"),
      );
      const revoke = async (action: PendingAction): Promise<string | undefined> => {
        const leaseId = await deps.store.leaseOf(action.id);
        if (!leaseId) return undefined;
        try {
          await deps.broker.revokeLease(leaseId);
        } catch (error) {
          logger.warn(
            { actionId: action.id, leaseId, err: describeError(error) },
            "could not revoke orphan lease; it is retried until it succeeds",
          );
          await leaseOutlived(action, leaseId, undefined);
        }
        return leaseId;
      };
      /** Finish an action whose executor stopped: store, audit and tell its thread, once. */
      const close = async (
        action: PendingAction,
        state: "interrupted" | "failed",
        message: string,
        rule: string,
        leaseId: string | undefined,
        details: Record<string, unknown>,
      ): Promise<PendingAction | undefined> => {
        const result = await finishRecorded(action.id, state, {
          message,
          ...(leaseId ? { leaseId } : {}),
          finishedAt: new Date().toISOString(),
        });
        if (!result.action) return undefined;
        deps.audit.record({
          kind: "execution",
          actionId: action.id,
          tool: action.tool,
          actor: action.requester,
          conversation: action.conversation,
          cluster: deps.clusterName,
          outcome: state,
          rule,
          message,
          ...(leaseId ? { leaseId } : {}),
          details,
        });
        await deps
          .notify?.(result.action, message)
          .catch((error: unknown) =>
            logger.warn({ actionId: action.id, err: describeError(error) }, "could not tell the thread"),
          );
        return result.action;
      };
      // Another cluster's actions are its own executor's to close: only that executor's
      // OpenBao role can revoke their leases.
      for (const action of await deps.store.listOrphaned(staleAfterMs)) {
        if (running.has(action.id) || action.cluster !== deps.clusterName) continue;
        const type = actionTypeOf(action.tool);
        const parsed = type?.args.safeParse(action.arguments);
        const planned =
          parsed?.success && type?.plannedSteps ? type.plannedSteps(parsed.data) : [wholeStep(action)];
        const message = interruptedMessage(planned, await deps.store.steps(action.id));
        const leaseId = await revoke(action);
        const closed = await close(action, "interrupted", message, "owner-stopped", leaseId, {
          owner: action.owner,
          reapedBy: owner,
        });
        if (closed) reconciled.push(closed);
      }
      // Approved, but the executor stopped before it began: nothing was run.
      for (const action of await deps.store.listStale(staleAfterMs)) {
        if (action.state !== "approved" || running.has(action.id) || action.cluster !== deps.clusterName)
          continue;
        const message =
          "The executor stopped after the approval, before running it; nothing was run. Approve a new proposal if it is still needed.";
        const closed = await close(action, "failed", message, "crash-reconciliation", undefined, {});
        if (closed) reconciled.push(closed);
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

/** Where the API server's answer to the write differs from the approved result; undefined: it does not. */
function writtenDiffers(written: WriteAnswer | undefined, effect: Effect | undefined): string | undefined {
  if (!written || !effect) return undefined;
  if (resultDigest(written.object, { created: effect.live === undefined }) === effect.digest)
    return undefined;
  const differs = diffObjects(effect.result, normaliseObject(written.object)).map((change) => change.path);
  return `${differs.slice(0, 5).join(", ")}${differs.length > 5 ? ", …" : ""}`;
}

/** What outlives an action whose lease could not be revoked, and until when: the true bound. */
export function unrevokedLeaseMessage(
  lease: Pick<UnrevokedLeaseRecord, "leaseId" | "serviceAccount" | "tokenExpiresAt">,
  reason: string | undefined,
): string {
  const until = lease.tokenExpiresAt
    ? `until ${lease.tokenExpiresAt} (Kubernetes issues no token for less than 600 s)`
    : "until it expires, at least 600 s after it was issued (Kubernetes issues no shorter token)";
  return `Warning: lease ${lease.leaseId} could not be revoked${reason ? ` (${reason})` : ""}. Until it is, service account ${lease.serviceAccount} keeps this action's permissions, and its Kubernetes token stays valid ${until}. Revocation is retried until it succeeds, and an alert says when it did.`;
}

/** The single step of an action that does not name its steps. */
function wholeStep(action: PendingAction): string {
  return `${action.tool} on ${describeTarget(action.target)}`;
}

/** A run stopped at its deadline: failed, with what it did and did not do. */
function timedOutMessage(
  error: ActionTimedOut,
  planned: readonly string[],
  steps: readonly ActionStep[],
  revoked: boolean,
): string {
  const report = stepReport(planned, steps);
  // An unrevoked credential is said after this, with what it still allows and until when.
  const credential = revoked ? "; its credential was revoked" : "";
  return `Timed out: the action ran past its deadline of ${Math.round(error.budgetMs / 1000)} s and was stopped${credential}. ${report}`;
}

/**
 * What a run did and did not do, from its own step records: the one wording
 * every message about a multi-step action ends with. `unknownStep` is a step
 * recorded as failed whose answer was lost: its outcome is unknown, not a failure.
 */
export function stepReport(
  planned: readonly string[],
  steps: readonly ActionStep[],
  unknownStep?: string,
): string {
  const last = new Map<string, ActionStep["status"]>();
  for (const step of steps) last.set(step.step, step.status);
  if (unknownStep !== undefined && last.get(unknownStep) === "failed") last.set(unknownStep, "started");
  const named = [...new Set([...planned, ...last.keys()])];
  const done = named.filter((name) => last.get(name) === "done");
  const failed = named.filter((name) => last.get(name) === "failed");
  const unknown = named.filter((name) => last.get(name) === "started");
  const notStarted = named.filter((name) => !last.has(name));
  const list = (names: string[]): string => names.join(", ");
  return [
    done.length > 0 ? `Done: ${list(done)}.` : "Nothing was completed.",
    ...(failed.length > 0 ? [`Failed: ${list(failed)}.`] : []),
    ...(unknown.length > 0 ? [`Started, outcome unknown (check the cluster): ${list(unknown)}.`] : []),
    ...(notStarted.length > 0 ? [`Not done: ${list(notStarted)}.`] : []),
  ].join(" ");
}

/** What an interrupted run did and did not do, from its own step records. */
export function interruptedMessage(planned: readonly string[], steps: readonly ActionStep[]): string {
  return `Interrupted: the executor running this action stopped part-way; it was not run again. ${stepReport(planned, steps)}`;
}

/** The step a failed run stopped at: the last one recorded as failed. */
function failedStep(steps: readonly ActionStep[]): string | undefined {
  return steps.findLast((step) => step.status === "failed")?.step;
}

/**
 * A failure as a sentence for the thread, with the API status when there is
 * one: the one place a failed run is worded. A lost answer is "unknown until
 * read back", never a refusal; a multi-step action says what it did and did not do.
 */
export function failureOf(
  error: unknown,
  credentialObtained: boolean,
  run: { planned: readonly string[]; steps: readonly ActionStep[] } = { planned: [], steps: [] },
): { message: string; kubeStatus: number | undefined } {
  const multiStep = run.planned.length > 1;
  const stopped = multiStep ? failedStep(run.steps) : undefined;
  const unknown = error instanceof KubeOutcomeUnknown && error.applied === undefined;
  const report = multiStep ? ` ${stepReport(run.planned, run.steps, unknown ? stopped : undefined)}` : "";
  const what = stopped ? `the step "${stopped}"` : "the change";
  if (error instanceof ActionFailed)
    return { message: `${error.message}${report}`, kubeStatus: error.kubeStatus };
  if (isRedisUnavailable(error)) {
    // Only recording a step's start (or the lease) reaches Redis before the cluster is touched.
    return {
      message: `Deputy's state store (Redis) could not be reached to record the start of ${what}, so it was not run${report || ". Nothing was changed."}`,
      kubeStatus: undefined,
    };
  }
  if (error instanceof KubeOutcomeUnknown) {
    const status = error.cause instanceof KubeApiError ? error.cause.status : undefined;
    const message =
      error.applied === undefined
        ? `The outcome of ${what} is unknown: Kubernetes' answer was lost (${error.lost}) after it was sent, and it could not be read back (${error.readBackFailure ?? "unknown"}). It may or may not have been applied; check ${multiStep ? "the cluster" : "the object"} before trying again.`
        : `Kubernetes' answer to ${what} was lost (${error.lost}); read back with the action's credential, it was not applied.`;
    return { message: `${message}${report}`, kubeStatus: status };
  }
  if (error instanceof KubeApiError) {
    const status = `${error.status}${error.reason ? ` ${error.reason}` : ""}`;
    if (error.method === "GET") {
      return {
        message: `Reading from Kubernetes failed (${status}): ${error.message}${report}`,
        kubeStatus: error.status,
      };
    }
    return {
      message: `Kubernetes refused ${what} (${status}): ${error.message}${report || " Nothing was changed."}`,
      kubeStatus: error.status,
    };
  }
  if (!credentialObtained && (error instanceof OpenBaoError || isDeputyError(error))) {
    return {
      message: `No just-in-time credential could be obtained from OpenBao (${describeError(error)}); nothing was done.`,
      kubeStatus: undefined,
    };
  }
  return { message: `The action failed: ${describeError(error)}${report}`, kubeStatus: undefined };
}
