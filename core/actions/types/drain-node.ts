import { z } from "zod";
import type { Pod, WireList } from "../../kube/types.ts";
import { ActionFailed, defineActionType } from "../action-type.ts";
import { evictionRequest, evictPod } from "./evict.ts";
import { liveNode, setUnschedulable } from "./node-support.ts";
import { nodeScheduleRequest, objectName, podRefSchema } from "./support.ts";

/**
 * Drain: cordon, then evict exactly the pods the card listed (by uid), one by
 * one through the Eviction API. A pod that reached the node after the card
 * was built is not on it and is left for a new approval; pods the proposal
 * left in place (other namespaces, no controller, DaemonSets, mirror pods)
 * are named on the card with the reason, and the card says the node will not
 * be empty.
 */
const left = z.strictObject({ pod: z.string(), reason: z.string() });

/**
 * Per pod: an eviction's request timeouts and retries (20 s each) with room
 * for a slow API server; plus a minute for the node itself (cordon, pod list).
 */
export const DRAIN_PER_POD_MS = 60_000;
const DRAIN_NODE_MS = 60_000;

/** Pods a drain leaves by design, as kubectl drain does: the node counts as drained with them on it. */
const DRAIN_IGNORES = /DaemonSet|mirror|finished|terminating/;

function podId(ref: { namespace: string; name: string }): string {
  return `${ref.namespace}/${ref.name}`;
}

export const drainNode = defineActionType({
  name: "drain_node",
  args: z.strictObject({ name: objectName, evict: z.array(podRefSchema).max(500) }),
  evidence: z.strictObject({ alreadyCordoned: z.boolean(), leave: z.array(left).max(2000) }),
  budgetMs: (args) => DRAIN_NODE_MS + DRAIN_PER_POD_MS * args.evict.length,
  // A budget that blocks an eviction now is waited out by the run; any other refusal is final.
  dryRunChecks: (args, ev, target) => [
    ...(ev.alreadyCordoned
      ? []
      : [{ what: `the cordon of node ${args.name}`, ...nodeScheduleRequest(args.name, target, true) }]),
    ...args.evict.map((ref) => ({ ...evictionRequest(ref), tolerate429: true })),
  ],
  plannedSteps: (args) => [`cordon node ${args.name}`, ...args.evict.map((ref) => `evict ${podId(ref)}`)],
  view: (args, ev) => ({
    summary: `Drain node ${args.name}: cordon it and evict ${args.evict.length} pod(s).`,
    security: [],
    changes: [
      ev.alreadyCordoned ? `Node ${args.name} is already cordoned.` : "spec.unschedulable: false → true",
      `Evicted one by one (only these; a pod that arrives later needs a new approval): ${args.evict.map(podId).join(", ") || "none"}.`,
    ],
    notes:
      ev.leave.length > 0
        ? [
            `Left in place: ${ev.leave.map((entry) => `${entry.pod} (${entry.reason})`).join(", ")}.`,
            ...(ev.leave.some((entry) => !DRAIN_IGNORES.test(entry.reason))
              ? [`The node will not be empty after the drain.`]
              : []),
          ]
        : [],
  }),
  effect: (args) => ({
    kind: "node-drained",
    name: args.name,
    pods: args.evict.map(podId),
  }),
  async run(context) {
    const { name, evict } = context.args;
    const node = await liveNode(context);
    await context.step(`cordon node ${name}`, () => setUnschedulable(context, node, true));
    const pods = await context.kube.get<WireList<Pod>>("/api/v1/pods", {
      fieldSelector: `spec.nodeName=${name}`,
    });
    const onNode = new Map(pods.items.map((pod) => [pod.metadata?.uid ?? "", pod] as const));
    const approved = new Set(evict.map((ref) => ref.uid));
    const evicted: string[] = [];
    const gone: string[] = [];
    const leftAlone = new Set(context.evidence.leave.map((entry) => entry.pod));
    const notOnCard = pods.items
      .filter((pod) => !approved.has(pod.metadata?.uid ?? "") && !pod.metadata?.deletionTimestamp)
      .filter((pod) => !leftAlone.has(`${pod.metadata?.namespace}/${pod.metadata?.name}`))
      .map((pod) => `${pod.metadata?.namespace}/${pod.metadata?.name}`);
    for (const ref of evict) {
      const pod = onNode.get(ref.uid);
      if (!pod || pod.metadata?.name !== ref.name || pod.metadata.namespace !== ref.namespace) {
        gone.push(podId(ref));
        continue;
      }
      if (context.protectedNamespaces.includes(ref.namespace)) {
        throw new ActionFailed(
          "POLICY_DENIED",
          `Pod ${podId(ref)} is in a protected namespace; the drain stopped before it.`,
        );
      }
      try {
        await context.step(`evict ${podId(ref)}`, () => evictPod(context.kube, ref));
        evicted.push(podId(ref));
      } catch (error) {
        // What was and was not done is added from the step records, as for every failure.
        if (error instanceof ActionFailed && error.kubeStatus === 429) {
          throw new ActionFailed(
            "POLICY_DENIED",
            `Drain of node ${name} stopped: ${error.message} The node stays cordoned.`,
            429,
          );
        }
        throw error;
      }
    }
    // "Drained" only when nothing but what a drain always leaves is still on the node.
    const stays = context.evidence.leave.filter((entry) => !DRAIN_IGNORES.test(entry.reason));
    const remaining = [...stays.map((entry) => entry.pod), ...notOnCard];
    const drained = remaining.length > 0 ? `drained except ${remaining.join(", ")}` : "drained";
    const parts = [
      `Node ${name} cordoned and ${drained}: evicted ${evicted.length} pod(s)${evicted.length ? ` (${evicted.join(", ")})` : ""}.`,
      ...(stays.length > 0
        ? [
            `Left in place, as the card said: ${stays.map((entry) => `${entry.pod} (${entry.reason})`).join(", ")}.`,
          ]
        : []),
      ...(gone.length > 0 ? [`Already gone: ${gone.join(", ")}.`] : []),
      ...(notOnCard.length > 0
        ? [`Not on the approved card, so not evicted (a new approval is needed): ${notOnCard.join(", ")}.`]
        : []),
    ];
    return { message: parts.join(" "), kubeStatus: 200 };
  },
});
