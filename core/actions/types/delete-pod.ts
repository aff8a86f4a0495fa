import { z } from "zod";
import { isKubeApiError } from "../../kube/errors.ts";
import type { Pod } from "../../kube/types.ts";
import { ActionFailed, assertUnchanged, defineActionType } from "../action-type.ts";
import { evictionRequest, evictPod } from "./evict.ts";
import { namespaceName, objectName, podPath } from "./support.ts";

export const deletePod = defineActionType({
  name: "delete_pod",
  args: z.strictObject({ namespace: namespaceName, name: objectName }),
  evidence: z.strictObject({
    node: z.string(),
    phase: z.string(),
    gracePeriodSeconds: z.number(),
    /** "ReplicaSet checkout-7d9f", absent for a bare pod. */
    owner: z.string().optional(),
    /** Its controller's selector "k=v,…", which picks the replacement too (absent: not read). */
    labelSelector: z.string().max(4096).optional(),
    /** The pods with those labels when the card was built: the replacement is not among them. */
    siblings: z.array(z.string()).max(500).optional(),
  }),
  flags: (_args, ev) =>
    ev.owner ? [] : [{ rule: "bare-pod", message: "This pod has no controller; once evicted it is gone." }],
  view: (args, ev) => ({
    summary: `Evict pod ${args.namespace}/${args.name}.`,
    security: [],
    changes: [
      `Pod ${args.namespace}/${args.name} on node ${ev.node}, phase ${ev.phase}, is evicted (graceful termination, ${ev.gracePeriodSeconds} s).`,
    ],
    notes: [
      ev.owner
        ? `Owned by ${ev.owner}: a replacement pod is created.`
        : "Not owned by a controller: nothing will recreate it.",
    ],
  }),
  effect: (args, ev, target) =>
    ev.owner
      ? {
          kind: "pod-replaced",
          namespace: args.namespace,
          name: args.name,
          ...(target.uid ? { uid: target.uid } : {}),
          owner: ev.owner,
          ...(ev.labelSelector ? { labelSelector: ev.labelSelector, siblings: ev.siblings ?? [] } : {}),
        }
      : undefined,
  // A budget's 429 is left to the pdb guardrail and the run, which name the budget and its numbers.
  dryRunChecks: (args, _evidence, target) => [
    { ...evictionRequest({ ...args, uid: target.uid }), tolerate429: true },
  ],
  async run(context) {
    const { namespace, name } = context.args;
    const what = `Pod ${namespace}/${name}`;
    let pod: Pod;
    try {
      pod = await context.kube.get<Pod>(podPath(namespace, name));
    } catch (error) {
      if (isKubeApiError(error, 404))
        throw new ActionFailed("NOT_FOUND", `${what} no longer exists; nothing was done.`, 404);
      throw error;
    }
    // Pods change status constantly: the uid says it is the same pod, which is what matters.
    assertUnchanged(pod, { ...context.action.target, generation: undefined }, what);
    const status = await evictPod(context.kube, { namespace, name, uid: pod.metadata?.uid });
    // Only a pod with a controller comes back; the card said which this one is.
    const after = context.evidence.owner
      ? `its controller (${context.evidence.owner}) will replace it`
      : "it has no controller, so nothing will recreate it";
    return { message: `${what} evicted; ${after}.`, kubeStatus: status };
  },
});
