import { z } from "zod";
import { isKubeApiError } from "../../kube/errors.ts";
import type { Deployment } from "../../kube/types.ts";
import {
  ActionFailed,
  assertUnchanged,
  type RunContext,
  type RunResult,
  type WriteRequest,
} from "../action-type.ts";
import type { ActionTarget } from "../schema.ts";

/** Shared by the action types: argument pieces, Deployment reads and guarded patches. */

export const objectName = z.string().min(1).max(253);
export const namespaceName = z.string().min(1).max(63);
export const deploymentRef = { namespace: namespaceName, name: objectName };
export const podRefSchema = z.strictObject({
  namespace: namespaceName,
  name: objectName,
  uid: z.string().min(1),
});
export type PodRef = z.infer<typeof podRefSchema>;

/** Pod spec as read from the API: checked to be an object, walked by the pod-spec analysis. */
export const podSpecEvidence = z.record(z.string(), z.unknown());

export function deploymentPath(namespace: string, name: string): string {
  return `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/deployments/${encodeURIComponent(name)}`;
}

export function podPath(namespace: string, name: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`;
}

export function nodePath(name: string): string {
  return `/api/v1/nodes/${encodeURIComponent(name)}`;
}

export const done = (message: string): RunResult => ({ message, kubeStatus: 200 });

/**
 * A strategic merge patch of a Deployment's spec, with the proposed object's
 * uid in the body (a re-created Deployment of the same name refuses it).
 */
export function deploymentRequest(
  ref: { namespace: string; name: string },
  target: ActionTarget,
  spec: Record<string, unknown>,
): WriteRequest {
  return {
    object: { kind: "Deployment", namespace: ref.namespace, name: ref.name },
    method: "PATCH",
    path: deploymentPath(ref.namespace, ref.name),
    patchType: "strategic",
    body: { metadata: target.uid ? { uid: target.uid } : {}, spec },
    query: { fieldManager: "deputy" },
  };
}

/** Cordon (true) or uncordon a node: a merge patch with the node's uid in the body. */
export function nodeScheduleRequest(
  name: string,
  target: ActionTarget,
  unschedulable: boolean,
): WriteRequest {
  return {
    object: { kind: "Node", name },
    method: "PATCH",
    path: nodePath(name),
    patchType: "merge",
    body: {
      metadata: target.uid ? { uid: target.uid } : {},
      spec: { unschedulable: unschedulable ? true : null },
    },
    query: { fieldManager: "deputy" },
  };
}

/** Read the deployment with the minted credential and check it is the one proposed. */
export async function liveDeployment(
  context: RunContext<{ namespace: string; name: string }>,
): Promise<Deployment> {
  const { namespace, name } = context.args;
  const what = `Deployment ${namespace}/${name}`;
  let live: Deployment;
  try {
    live = await context.kube.get<Deployment>(deploymentPath(namespace, name));
  } catch (error) {
    if (isKubeApiError(error, 404))
      throw new ActionFailed("NOT_FOUND", `${what} no longer exists; nothing was done.`, 404);
    throw error;
  }
  assertUnchanged(live, context.action.target, what);
  return live;
}

/** Same object, same spec generation, labels and annotations: what moved is status only. */
export function onlyStatusChanged(before: Deployment, after: Deployment): boolean {
  return (
    before.metadata?.uid === after.metadata?.uid &&
    before.metadata?.generation === after.metadata?.generation &&
    JSON.stringify(before.metadata?.labels ?? {}) === JSON.stringify(after.metadata?.labels ?? {}) &&
    JSON.stringify(before.metadata?.annotations ?? {}) === JSON.stringify(after.metadata?.annotations ?? {})
  );
}

/**
 * Strategic merge patch guarded by uid + resourceVersion: a concurrent change
 * is a 409. A 409 caused only by the controllers updating status (same uid,
 * spec generation, labels and annotations) is not a change to what the
 * approver saw, so the patch is tried again on the fresh resourceVersion, a
 * few times; any other change stays a conflict and nothing is written.
 */
export async function guardedPatch(
  context: RunContext<unknown>,
  live: Deployment,
  spec: Record<string, unknown>,
): Promise<void> {
  const { namespace = "", name = "" } = live.metadata ?? {};
  const path = deploymentPath(namespace, name);
  let current = live;
  for (let attempt = 1; ; attempt++) {
    const meta = current.metadata ?? {};
    try {
      await context.kube.patch(
        path,
        { metadata: { uid: meta.uid, resourceVersion: meta.resourceVersion }, spec },
        "strategic",
        { fieldManager: "deputy" },
      );
      return;
    } catch (error) {
      if (!isKubeApiError(error, 409)) throw error;
      const fresh = attempt < 4 ? await context.kube.get<Deployment>(path).catch(() => undefined) : undefined;
      if (!fresh || !onlyStatusChanged(live, fresh)) {
        throw new ActionFailed(
          "CONFLICT",
          `Deployment ${namespace}/${name} changed while the action ran (409 Conflict); nothing was done.`,
          409,
        );
      }
      current = fresh;
    }
  }
}

export function requireContainer(live: Deployment, container: string): void {
  const names = (live.spec?.template.spec?.containers ?? []).map((c) => c.name);
  if (!names.includes(container)) {
    throw new ActionFailed(
      "INPUT_INVALID",
      `Deployment ${live.metadata?.namespace}/${live.metadata?.name} has no container "${container}" any more (has ${names.join(", ")}); nothing was done.`,
      422,
    );
  }
}

type Json = Record<string, unknown>;

/** A copy of a pod spec with one container changed, for the pod-spec analysis of the result. */
export function withContainer(spec: Json, container: string, change: (c: Json) => Json): Json {
  const containers = Array.isArray(spec.containers) ? (spec.containers as Json[]) : [];
  return { ...spec, containers: containers.map((c) => (c.name === container ? change(c) : c)) };
}

export function podsLine(pods: readonly string[], how: string): string {
  return `${how}: ${pods.length} (${pods.join(", ") || "none running"}).`;
}
