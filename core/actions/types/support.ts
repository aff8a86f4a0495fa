import { z } from "zod";
import type { RunResult, WriteRequest } from "../action-type.ts";
import type { ActionTarget } from "../schema.ts";

/** Shared by the action types: argument pieces, API paths and the requests they send. */

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

type Json = Record<string, unknown>;

/** A copy of a pod spec with one container changed, for the pod-spec analysis of the result. */
export function withContainer(spec: Json, container: string, change: (c: Json) => Json): Json {
  const containers = Array.isArray(spec.containers) ? (spec.containers as Json[]) : [];
  return { ...spec, containers: containers.map((c) => (c.name === container ? change(c) : c)) };
}

export function podsLine(pods: readonly string[], how: string): string {
  return `${how}: ${pods.length} (${pods.join(", ") || "none running"}).`;
}
