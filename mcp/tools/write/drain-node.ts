import { defineTool } from "../../tool.ts";
import type { McpDeps } from "../../deps.ts";
import { drainSkipReason } from "../../../executor/runners/node.ts";
import { nodeArg } from "../read/support/args.ts";
import { podsOnNode, readNode } from "./support/nodes.ts";
import { precheck, propose } from "./support/propose.ts";
import { writeInput } from "./support/schema.ts";
import { budgetsIn, podName, targetOf } from "./support/targets.ts";

const inputSchema = writeInput({ name: nodeArg });

export const drainNode = defineTool<McpDeps, typeof inputSchema.shape>({
  name: "drain_node",
  title: "Drain a node (needs approval)",
  description:
    "Propose draining a node: cordon it, then evict its pods one by one through the Eviction API. DaemonSet and mirror pods, and pods in protected namespaces, stay. A PodDisruptionBudget that blocks an eviction stops the drain there (reported; never forced). Returns at once with 'pending approval (id act_…)'; a human approver (not the requester) must approve.",
  inputSchema,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  async handler(args, context) {
    const refused = precheck(context, "drain_node", args, { kind: "Node", name: args.name });
    if (refused) return refused;
    const { deps, signal } = context;
    const node = await readNode(deps, args.name, signal);
    const pods = await podsOnNode(deps, args.name, signal);
    const protectedNamespaces = deps.config.guardrails.protectedNamespaces;
    const evicted = pods.filter((pod) => !drainSkipReason(pod, protectedNamespaces));
    const skipped = pods
      .map((pod) => ({ pod, reason: drainSkipReason(pod, protectedNamespaces) }))
      .filter((entry) => entry.reason !== undefined);
    const pdbs = await budgetsIn(deps, undefined, signal);
    return propose(context, {
      tool: "drain_node",
      rawArguments: args,
      arguments: { name: args.name },
      target: targetOf("Node", { metadata: { ...node.metadata, generation: undefined } }),
      object: node,
      pods,
      pdbs,
      summary: `Drain node ${args.name}: cordon it and evict ${evicted.length} pod(s).`,
      preview: [
        node.spec?.unschedulable
          ? `Node ${args.name} is already cordoned.`
          : "spec.unschedulable: false → true",
        `Evicted one by one: ${evicted.map(podName).join(", ") || "none"}.`,
        ...(skipped.length > 0
          ? [`Left in place: ${skipped.map(({ pod, reason }) => `${podName(pod)} (${reason})`).join(", ")}.`]
          : []),
      ],
    });
  },
});
