import { defineTool } from "../../tool.ts";
import type { McpDeps } from "../../deps.ts";
import { nodeArg } from "../read/support/args.ts";
import { readNode } from "./support/nodes.ts";
import { precheck, propose } from "./support/propose.ts";
import { writeInput } from "./support/schema.ts";
import { targetOf } from "./support/targets.ts";

const inputSchema = writeInput({ name: nodeArg });

export const uncordonNode = defineTool<McpDeps, typeof inputSchema.shape>({
  name: "uncordon_node",
  title: "Uncordon a node (needs approval)",
  description:
    "Propose making a cordoned node schedulable again. Returns at once with 'pending approval (id act_…)'; a human approver (not the requester) must approve.",
  inputSchema,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  async handler(args, context) {
    const refused = precheck(context, "uncordon_node", args, { kind: "Node", name: args.name });
    if (refused) return refused;
    const { deps, signal } = context;
    const node = await readNode(deps, args.name, signal);
    const notReady = node.status?.conditions?.some((c) => c.type === "Ready" && c.status !== "True");
    return propose(context, {
      tool: "uncordon_node",
      rawArguments: args,
      arguments: { name: args.name },
      target: targetOf("Node", { metadata: { ...node.metadata, generation: undefined } }),
      object: node,
      summary: `Uncordon node ${args.name}.`,
      preview: [
        node.spec?.unschedulable
          ? "spec.unschedulable: true → false"
          : `Node ${args.name} is not cordoned; this changes nothing.`,
      ],
      ...(notReady
        ? {
            flags: [
              {
                rule: "node-not-ready",
                message: `Node ${args.name} is NotReady: pods scheduled there may not start.`,
              },
            ],
          }
        : {}),
    });
  },
});
