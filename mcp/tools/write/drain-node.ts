import * as actions from "../../../core/actions/types/index.ts";
import type { Pod } from "../../../core/kube/types.ts";
import { nodeArg } from "../read/support/args.ts";
import { namespacePolicy } from "../read/support/scope.ts";
import { podsOnNode, readNode } from "./support/nodes.ts";
import { defineWriteTool, precheck, propose } from "./support/propose.ts";
import { writeInput } from "./support/schema.ts";
import { budgetsIn, podName, targetOf } from "./support/targets.ts";

const type = actions.drainNode;
const inputSchema = writeInput({ name: nodeArg });

/** Why a pod on a node is left alone by a drain, or undefined when it is evicted. */
export function drainSkipReason(
  pod: Pod,
  options: {
    protectedNamespaces: readonly string[];
    writableNamespaces: readonly string[];
    /** The namespaces this conversation may see and change (channel scope, allow/deny lists). */
    inScope?: (namespace: string) => boolean;
  },
): string | undefined {
  const namespace = pod.metadata?.namespace ?? "";
  if (pod.metadata?.annotations?.["kubernetes.io/config.mirror"])
    return "mirror pod (managed by the kubelet)";
  const controller = pod.metadata?.ownerReferences?.find((owner) => owner.controller);
  if (controller?.kind === "DaemonSet") return "DaemonSet pod";
  if (pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed") return "already finished";
  if (pod.metadata?.deletionTimestamp) return "already terminating";
  if (options.protectedNamespaces.includes(namespace)) return "protected namespace";
  if (options.writableNamespaces.length > 0 && !options.writableNamespaces.includes(namespace)) {
    return "outside the namespaces Deputy may change";
  }
  if (options.inScope && !options.inScope(namespace))
    return "outside the namespaces this conversation may change";
  // kubectl drain refuses these without --force: nothing would recreate the pod.
  if (!controller) return "no controller: nothing would recreate it";
  return undefined;
}

export const drainNode = defineWriteTool<typeof inputSchema.shape>(type, {
  title: "Drain a node (needs approval)",
  description:
    "Propose draining a node: cordon it, then evict its pods one by one. The card lists the pods to evict; DaemonSet, mirror and controller-less pods, and pods outside Deputy's writable namespaces, stay. A blocking PodDisruptionBudget stops the drain (reported, never forced).",
  inputSchema,
  annotations: { idempotentHint: false },
  async handler(args, context) {
    const refused = precheck(context, type, args, { kind: "Node", name: args.name });
    if (refused) return refused;
    const { deps, signal } = context;
    const node = await readNode(deps, args.name, signal);
    const pods = await podsOnNode(deps, args.name, signal);
    const scope = namespacePolicy(deps);
    const options = {
      protectedNamespaces: deps.config.guardrails.protectedNamespaces,
      writableNamespaces: deps.config.approvals.writableNamespaces,
      inScope: (namespace: string) => scope.allows(namespace),
    };
    const evicted = pods.filter((pod) => !drainSkipReason(pod, options));
    const leave = pods.flatMap((pod) => {
      const reason = drainSkipReason(pod, options);
      return reason ? [{ pod: podName(pod), reason }] : [];
    });
    const pdbs = await budgetsIn(deps, undefined, signal);
    return propose(context, type, {
      rawArguments: args,
      arguments: {
        name: args.name,
        evict: evicted.map((pod) => ({
          namespace: pod.metadata?.namespace ?? "",
          name: pod.metadata?.name ?? "",
          uid: pod.metadata?.uid ?? "",
        })),
      },
      evidence: { alreadyCordoned: node.spec?.unschedulable === true, leave },
      target: targetOf("Node", { metadata: { ...node.metadata, generation: undefined } }),
      object: node,
      // The guardrails (StatefulSet pods, budgets) look at the pods that will actually be evicted.
      pods: evicted,
      pdbs,
    });
  },
});
