import { defineTool } from "../../tool.ts";
import type { McpDeps } from "../../deps.ts";
import { nodeArg } from "../read/support/args.ts";
import { podsOnNode, readNode } from "./support/nodes.ts";
import { precheck, propose } from "./support/propose.ts";
import { writeInput } from "./support/schema.ts";
import { targetOf } from "./support/targets.ts";

const inputSchema = writeInput({ name: nodeArg });

export const cordonNode = defineTool<McpDeps, typeof inputSchema.shape>({
  name: "cordon_node",
  title: "Cordon a node (needs approval)",
  description:
    "Propose marking a node unschedulable so no new pods land on it; pods already there keep running (use drain_node to move them). Returns at once with 'pending approval (id act_…)'; a human approver (not the requester) must approve.",
  inputSchema,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  async handler(args, context) {
    const refused = precheck(context, "cordon_node", args, { kind: "Node", name: args.name });
    if (refused) return refused;
    const { deps, signal } = context;
    const node = await readNode(deps, args.name, signal);
    const pods = await podsOnNode(deps, args.name, signal);
    return propose(context, {
      tool: "cordon_node",
      rawArguments: args,
      arguments: { name: args.name },
      target: targetOf("Node", { metadata: { ...node.metadata, generation: undefined } }),
      object: node,
      summary: `Cordon node ${args.name}.`,
      preview: [
        node.spec?.unschedulable
          ? `Node ${args.name} is already cordoned; this changes nothing.`
          : `spec.unschedulable: false → true`,
        `${pods.length} pod(s) on the node keep running.`,
      ],
    });
  },
});
