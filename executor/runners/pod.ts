import { z } from "zod";
import { isKubeApiError, type KubeApiError } from "../../core/kube/errors.ts";
import type { Pod } from "../../core/kube/types.ts";
import { ActionFailed, assertUnchanged, type RunContext, type Runner } from "./types.ts";

/**
 * Pod removal goes through the Eviction API only, so PodDisruptionBudgets
 * bind. A 429 reports the blocking budget and its numbers and stops: there is
 * no fallback to delete, and the minted credential could not delete anyway
 * (its role has no pods/delete).
 */

export const podRef = z
  .object({ namespace: z.string().min(1).max(63), name: z.string().min(1).max(253) })
  .strict();
export type PodRef = z.infer<typeof podRef>;

export function podPath(namespace: string, name: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`;
}

/** "blocked by PodDisruptionBudget shop/db-pdb: …" from a 429 Status, in the API's own words. */
export function describePdbBlock(error: KubeApiError, namespace: string): string {
  const causes = (error.kubeStatus?.details?.causes ?? []) as { reason?: string; message?: string }[];
  const budget = causes.find((cause) => cause.reason === "DisruptionBudget")?.message;
  const name = budget?.match(/disruption budget (\S+)/)?.[1];
  const subject = name ? `PodDisruptionBudget ${namespace}/${name}` : "a PodDisruptionBudget";
  return `blocked by ${subject}: ${budget ?? error.message}`;
}

/** Evict one pod with a uid precondition. Returns the API status; throws ActionFailed on a PDB block. */
export async function evictPod(context: RunContext, pod: Pod): Promise<number> {
  const namespace = pod.metadata?.namespace ?? "";
  const name = pod.metadata?.name ?? "";
  try {
    await context.kube.post(`${podPath(namespace, name)}/eviction`, {
      apiVersion: "policy/v1",
      kind: "Eviction",
      metadata: { name, namespace },
      // No gracePeriodSeconds: the pod's own terminationGracePeriodSeconds applies.
      deleteOptions: { preconditions: { uid: pod.metadata?.uid } },
    });
    return 201;
  } catch (error) {
    if (isKubeApiError(error, 429)) {
      throw new ActionFailed(
        "POLICY_DENIED",
        `Eviction of pod ${namespace}/${name} ${describePdbBlock(error, namespace)}. Nothing was deleted; ask the owner of the budget or wait until more replicas are healthy.`,
        429,
      );
    }
    if (isKubeApiError(error, 409)) {
      throw new ActionFailed(
        "CONFLICT",
        `Pod ${namespace}/${name} was replaced before it could be evicted (409 Conflict); nothing was done.`,
        409,
      );
    }
    throw error;
  }
}

export const deletePod: Runner = async (context) => {
  const args = podRef.parse(context.action.arguments);
  const what = `Pod ${args.namespace}/${args.name}`;
  let pod: Pod;
  try {
    pod = await context.kube.get<Pod>(podPath(args.namespace, args.name));
  } catch (error) {
    if (isKubeApiError(error, 404))
      throw new ActionFailed("NOT_FOUND", `${what} no longer exists; nothing was done.`, 404);
    throw error;
  }
  // Pods change status constantly: the uid says it is the same pod, which is what matters.
  assertUnchanged(pod, { ...context.action.target, generation: undefined }, what);
  const status = await evictPod(context, pod);
  return { message: `${what} evicted; its controller will replace it.`, kubeStatus: status };
};
