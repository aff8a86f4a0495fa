import type { z } from "zod";
import { DeputyError } from "../errors.ts";
import type { Logger } from "../observability/logger.ts";
import type { ActionTarget, PendingAction, RiskFlag } from "./schema.ts";
import type { PodTemplateChange } from "./pod-spec.ts";
import type { Effect } from "./effect.ts";

/**
 * One declaration per write action: its name, its typed arguments, the
 * OpenBao role it runs under, what it hands the guardrails, the complete
 * view an approver sees, and its runner. The MCP write tool, the store, both
 * approval cards and the executor all read this one declaration, so a tool,
 * its runner and its role can no longer drift apart.
 */

export type PatchType = "merge" | "strategic" | "json" | "apply";

export const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: "application/merge-patch+json",
  strategic: "application/strategic-merge-patch+json",
  json: "application/json-patch+json",
  apply: "application/apply-patch+yaml",
};

/**
 * The one request an action sends to change one object. Built by the action
 * type from the stored arguments and evidence only, so the same function
 * builds the proposal's dry run (preview identity), the executor's repeated
 * dry run and the write itself (the just-in-time credential).
 */
export interface WriteRequest {
  /** The object the request writes. */
  object: { kind: string; namespace?: string | undefined; name: string };
  method: "PATCH";
  path: string;
  patchType: PatchType;
  body: unknown;
  /** fieldManager and the like; dryRun is added by whoever sends a dry run. */
  query: Record<string, string>;
}

/**
 * A request of a multi-step or removing action (an eviction, a drain's
 * cordon): its verdict (PodDisruptionBudgets, admission) is asked of the API
 * server as a dry run at proposal, with no resulting object to show.
 */
export interface DryRunCheck {
  /** "the eviction of pod shop/web-1", for the sentence. */
  what: string;
  method: "POST" | "PATCH";
  path: string;
  body: unknown;
  /** For a PATCH; POST bodies are JSON. */
  patchType?: PatchType;
  /** A 429 (a PodDisruptionBudget) is expected and waited out by the run (a drain). */
  tolerate429?: boolean;
}

/** An answer to a write request: the object as the API server returned it, and its warnings. */
export interface WriteAnswer {
  object: unknown;
  warnings: string[];
}

/** The executor's Kubernetes client for one action, with the action's minted credential. */
export interface KubeWriter {
  /** Send a write request, as a server-side dry run (dryRun=All) when asked. */
  send(request: WriteRequest, options?: { dryRun?: boolean }): Promise<WriteAnswer>;
  get<T>(path: string, query?: Record<string, string>): Promise<T>;
  patch<T>(
    path: string,
    body: unknown,
    type: "merge" | "strategic" | "json" | "apply",
    query?: Record<string, string>,
  ): Promise<T>;
  post<T>(path: string, body: unknown, query?: Record<string, string>): Promise<T>;
  close(): void;
}

export interface RunContext<Args, Evidence = unknown> {
  kube: KubeWriter;
  /** The verified stored action. */
  action: PendingAction;
  /** Its arguments, parsed by the action type's schema. */
  args: Args;
  /** What the card showed beside the arguments, parsed by the evidence schema. */
  evidence: Evidence;
  /** The approved dry-run result, for an action type that declares its request. */
  effect?: Effect | undefined;
  /**
   * Send the action type's request, bound to the approved result: repeated as
   * a dry run with this credential first, written only if the answer is the
   * approved one (core/actions/bound-write.ts).
   */
  writeApproved(): Promise<WriteAnswer>;
  protectedNamespaces: readonly string[];
  logger: Logger;
  /**
   * Record a step before and after it changes the cluster, so that an
   * interrupted run can say exactly what was done and what was not.
   */
  step<T>(name: string, work: () => Promise<T>): Promise<T>;
}

export interface RunResult {
  message: string;
  /** HTTP status of the decisive Kubernetes call. */
  kubeStatus: number;
}

/**
 * What the approver sees, complete: nothing that changes what runs is cut.
 * The card may show less than this when Slack's limits force it, says so, and
 * puts the rest one click away.
 */
export interface ApprovalView {
  /** One sentence: what happens to what. */
  summary: string;
  /** Security-relevant facts, shown before anything else. */
  security: string[];
  /** Every change, one line per field, values in full. */
  changes: string[];
  /** Context: pods affected, strategy, what is left alone. */
  notes: string[];
  /** Why this cannot be approved, when it cannot (no Approve button; the executor refuses too). */
  unapprovable?: string;
}

/**
 * The change that puts back what an executed action replaced: a write tool and
 * its arguments, proposed as a new pending action under the same approval
 * rules (never run directly). Computed from the stored arguments and the
 * evidence, which holds the values the action replaced.
 */
export interface InverseProposal {
  tool: string;
  arguments: Record<string, unknown>;
  /** One sentence for the card's reason: what the undo puts back. */
  summary: string;
}

/**
 * What an executed action should visibly cause, watched afterwards with the
 * read identity: a rollout that completes, a pod replaced, a node that is
 * (un)schedulable or drained.
 */
export type ExpectedEffect =
  | { kind: "rollout"; namespace: string; name: string; replicas?: number }
  | {
      kind: "pod-replaced";
      namespace: string;
      name: string;
      uid?: string;
      /** "ReplicaSet web-7d9f": what recreates it. */
      owner?: string;
      /** Selects the pod's replacement among its controller's pods… */
      labelSelector?: string;
      /** …which are not these, the pods it selected before. */
      siblings?: string[];
    }
  | { kind: "node-schedulable"; name: string; unschedulable: boolean }
  | { kind: "node-drained"; name: string; pods: string[] };

export interface ActionType<
  Args extends Record<string, unknown>,
  Evidence extends Record<string, unknown>,
  Name extends string = string,
> {
  /** The MCP tool name and the stored action's `tool`. */
  name: Name;
  /** Strict schema of the stored arguments: checked at proposal and again before the run. */
  args: z.ZodType<Args>;
  /** What the proposer read for the view (live object, pods): stored, signed, never run. */
  evidence: z.ZodType<Evidence>;
  /** For a role chosen by argument (apply_manifest: by kind); else the role is chosen by name. */
  roleKind?: (args: Args) => string;
  /** Pod templates this action creates or replaces, for the pod-spec guardrails. */
  podTemplates?: (args: Args, evidence: Evidence) => PodTemplateChange[];
  /** Risks this action knows about itself (scaling to zero, a Recreate restart). */
  flags?: (args: Args, evidence: Evidence) => RiskFlag[];
  view(args: Args, evidence: Evidence, target: ActionTarget): ApprovalView;
  /**
   * The request this action sends to change its one object. An action type
   * that declares it is proposed with the API server's dry-run answer to it
   * (the effect), and runs only while a repeated dry run gives that answer.
   */
  request?: (args: Args, evidence: Evidence, target: ActionTarget) => WriteRequest;
  /** Removals whose dry run must be accepted at proposal (evictions). */
  dryRunChecks?: (args: Args, evidence: Evidence, target: ActionTarget) => DryRunCheck[];
  /**
   * How long a run may take at most, in ms: its deadline, and what its
   * credential's TTL is sized to (core/actions/budget.ts; default 2 min).
   */
  budgetMs?: (args: Args, evidence: Evidence) => number;
  /** The steps a run takes, by the names its runner records (default: one step, the whole action). */
  plannedSteps?: (args: Args) => string[];
  run(context: RunContext<Args, Evidence>): Promise<RunResult>;
  /** The undo of a run, when one can be proposed; undefined: no Undo (a restart, an eviction). */
  inverse?: (args: Args, evidence: Evidence) => InverseProposal | undefined;
  /** What to watch after a successful run; undefined: nothing to verify. */
  effect?: (args: Args, evidence: Evidence, target: ActionTarget) => ExpectedEffect | undefined;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each action type has its own argument shape
export type AnyActionType<Name extends string = string> = ActionType<any, any, Name>;

/** Declare an action type with its argument and evidence types, and its name, inferred. */
export function defineActionType<
  Args extends Record<string, unknown>,
  Evidence extends Record<string, unknown>,
  const Name extends string,
>(type: ActionType<Args, Evidence, Name>): ActionType<Args, Evidence, Name> {
  return type;
}

/** A write refused before or by the API server; `kubeStatus` says how. */
export class ActionFailed extends DeputyError {
  readonly kubeStatus: number | undefined;
  constructor(
    code: "CONFLICT" | "POLICY_DENIED" | "INPUT_INVALID" | "NOT_FOUND",
    message: string,
    kubeStatus?: number,
  ) {
    super(code, message, { details: { kubeStatus } });
    this.name = "ActionFailed";
    this.kubeStatus = kubeStatus;
  }
}

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
}

/** The object is still the one proposed: same uid, and (when known) same spec generation. */
export function assertUnchanged(live: { metadata?: ObjectMeta }, target: ActionTarget, what: string): void {
  const meta = live.metadata ?? {};
  if (target.uid && meta.uid !== target.uid) {
    throw new ActionFailed(
      "CONFLICT",
      `${what} was deleted and re-created since it was proposed (uid changed); nothing was done. Propose the change again.`,
      409,
    );
  }
  if (target.generation !== undefined && meta.generation !== target.generation) {
    throw new ActionFailed(
      "CONFLICT",
      `${what} changed since it was proposed (spec generation ${target.generation} → ${meta.generation ?? "?"}); nothing was done. Propose the change again to act on the current version.`,
      409,
    );
  }
}

/** "Deployment shop/checkout", "Node node-a"; in running text (the console) "deployment shop/checkout". */
export function describeTarget(
  target: Pick<ActionTarget, "kind" | "namespace" | "name">,
  options: { lowercaseKind?: boolean } = {},
): string {
  const kind = options.lowercaseKind ? target.kind.toLowerCase() : target.kind;
  return `${kind} ${target.namespace ? `${target.namespace}/` : ""}${target.name}`;
}
