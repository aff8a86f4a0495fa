import { isKubeApiError, type KubeApiError } from "../../kube/errors.ts";
import { ActionFailed, type DryRunCheck, type KubeWriter } from "../action-type.ts";
import { podPath } from "./support.ts";

/**
 * Pod removal goes through the Eviction API only, so PodDisruptionBudgets
 * bind. A 429 reports the blocking budget and its numbers and stops: there is
 * no fallback to delete, and the minted credential could not delete anyway
 * (its role has no pods/delete).
 */

/** "blocked by PodDisruptionBudget shop/db-pdb: …" from a 429 Status, in the API's own words. */
export function describePdbBlock(error: KubeApiError, namespace: string): string {
  const causes = (error.kubeStatus?.details?.causes ?? []) as { reason?: string; message?: string }[];
  const budget = causes.find((cause) => cause.reason === "DisruptionBudget")?.message;
  const name = budget?.match(/disruption budget (\S+)/)?.[1];
  const subject = name ? `PodDisruptionBudget ${namespace}/${name}` : "a PodDisruptionBudget";
  return `blocked by ${subject}: ${budget ?? error.message}`;
}

/**
 * The eviction of one pod with a uid precondition: what the executor sends,
 * and what the proposal sends first as a dry run (PodDisruptionBudgets and
 * admission answer before anyone is asked to approve).
 */
export function evictionRequest(pod: {
  namespace: string;
  name: string;
  uid: string | undefined;
}): DryRunCheck {
  const { namespace, name } = pod;
  return {
    what: `the eviction of pod ${namespace}/${name}`,
    method: "POST",
    path: `${podPath(namespace, name)}/eviction`,
    body: {
      apiVersion: "policy/v1",
      kind: "Eviction",
      metadata: { name, namespace },
      // No gracePeriodSeconds: the pod's own terminationGracePeriodSeconds applies.
      deleteOptions: { preconditions: { uid: pod.uid } },
    },
  };
}

/** Evict one pod with a uid precondition. Returns the API status; throws ActionFailed on a PDB block. */
export async function evictPod(
  kube: KubeWriter,
  pod: { namespace: string; name: string; uid: string | undefined },
): Promise<number> {
  const { namespace, name } = pod;
  try {
    const request = evictionRequest(pod);
    await kube.post(request.path, request.body);
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
