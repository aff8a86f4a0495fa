import { z } from "zod";
import { isKubeApiError } from "../../core/kube/errors.ts";
import type { Node, Pod, WireList } from "../../core/kube/types.ts";
import { evictPod } from "./pod.ts";
import { ActionFailed, assertUnchanged, type RunContext, type Runner } from "./types.ts";

/** Cordon, uncordon and drain. Node status changes constantly, so the uid is the precondition. */

export const nodeRef = z.object({ name: z.string().min(1).max(253) }).strict();

function nodePath(name: string): string {
  return `/api/v1/nodes/${encodeURIComponent(name)}`;
}

async function liveNode(context: RunContext, name: string): Promise<Node> {
  try {
    const node = await context.kube.get<Node>(nodePath(name));
    assertUnchanged(node, { ...context.action.target, generation: undefined }, `Node ${name}`);
    return node;
  } catch (error) {
    if (isKubeApiError(error, 404))
      throw new ActionFailed("NOT_FOUND", `Node ${name} no longer exists; nothing was done.`, 404);
    throw error;
  }
}

async function setUnschedulable(context: RunContext, node: Node, unschedulable: boolean): Promise<void> {
  await context.kube.patch(
    nodePath(node.metadata?.name ?? ""),
    // The uid in the body is immutable: a different node of the same name fails with 422.
    { metadata: { uid: node.metadata?.uid }, spec: { unschedulable: unschedulable ? true : null } },
    "merge",
    { fieldManager: "deputy" },
  );
}

export const cordonNode: Runner = async (context) => {
  const { name } = nodeRef.parse(context.action.arguments);
  const node = await liveNode(context, name);
  await setUnschedulable(context, node, true);
  return { message: `Node ${name} cordoned: no new pods will be scheduled on it.`, kubeStatus: 200 };
};

export const uncordonNode: Runner = async (context) => {
  const { name } = nodeRef.parse(context.action.arguments);
  const node = await liveNode(context, name);
  await setUnschedulable(context, node, false);
  return { message: `Node ${name} uncordoned: pods can be scheduled on it again.`, kubeStatus: 200 };
};

/** Why a pod on a node is left alone by a drain, or undefined when it is evicted. */
export function drainSkipReason(pod: Pod, protectedNamespaces: readonly string[]): string | undefined {
  if (pod.metadata?.annotations?.["kubernetes.io/config.mirror"])
    return "mirror pod (managed by the kubelet)";
  if (pod.metadata?.ownerReferences?.some((owner) => owner.kind === "DaemonSet" && owner.controller)) {
    return "DaemonSet pod";
  }
  if (pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed") return "already finished";
  if (pod.metadata?.deletionTimestamp) return "already terminating";
  if (protectedNamespaces.includes(pod.metadata?.namespace ?? "")) return "protected namespace";
  return undefined;
}

export const drainNode: Runner = async (context) => {
  const { name } = nodeRef.parse(context.action.arguments);
  const node = await liveNode(context, name);
  await setUnschedulable(context, node, true);
  const pods = await context.kube.get<WireList<Pod>>("/api/v1/pods", {
    fieldSelector: `spec.nodeName=${name}`,
  });
  const evicted: string[] = [];
  const skipped: string[] = [];
  const toEvict: Pod[] = [];
  for (const pod of pods.items) {
    const reason = drainSkipReason(pod, context.protectedNamespaces);
    const id = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    if (reason) skipped.push(`${id} (${reason})`);
    else toEvict.push(pod);
  }
  for (const [index, pod] of toEvict.entries()) {
    const id = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    try {
      await evictPod(context, pod);
      evicted.push(id);
    } catch (error) {
      if (error instanceof ActionFailed && error.kubeStatus === 429) {
        const remaining = toEvict.slice(index).map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`);
        throw new ActionFailed(
          "POLICY_DENIED",
          `Drain of node ${name} stopped: ${error.message} The node stays cordoned. Evicted: ${evicted.join(", ") || "none"}. Not evicted: ${remaining.join(", ")}.`,
          429,
        );
      }
      throw error;
    }
  }
  const skippedText = skipped.length > 0 ? ` Left in place: ${skipped.join(", ")}.` : "";
  return {
    message: `Node ${name} cordoned and drained: evicted ${evicted.length} pod(s)${evicted.length ? ` (${evicted.join(", ")})` : ""}.${skippedText}`,
    kubeStatus: 200,
  };
};
