import { DeputyError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import type { PendingAction } from "../../core/pending.ts";
import type { KubeWriter } from "../kube-writer.ts";

/**
 * A runner performs one approved action with the action's just-in-time
 * credential. It re-reads the target, checks it is the object the card showed
 * (uid, spec generation), and writes with a resourceVersion precondition so a
 * change racing the write is a 409, not a silent overwrite.
 */
export interface RunContext {
  kube: KubeWriter;
  action: PendingAction;
  protectedNamespaces: readonly string[];
  logger: Logger;
}

export interface RunResult {
  message: string;
  /** HTTP status of the decisive Kubernetes call. */
  kubeStatus: number;
}

export type Runner = (context: RunContext) => Promise<RunResult>;

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
export function assertUnchanged(
  live: { metadata?: ObjectMeta },
  target: PendingAction["target"],
  what: string,
): void {
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

/** The path of an object's API resource. */
export function deploymentPath(namespace: string, name: string): string {
  return `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/deployments/${encodeURIComponent(name)}`;
}
