import { nodeArg } from "../read/support/args.ts";
import { readNode } from "./support/nodes.ts";
import * as actions from "../../../core/actions/types/index.ts";
import { defineWriteTool, precheck, propose } from "./support/propose.ts";
import { writeInput } from "./support/schema.ts";
import { targetOf } from "./support/targets.ts";

const type = actions.uncordonNode;

const inputSchema = writeInput({ name: nodeArg });

export const uncordonNode = defineWriteTool<typeof inputSchema.shape>(type, {
  title: "Uncordon a node (needs approval)",
  description: "Propose making a cordoned node schedulable again.",
  inputSchema,
  annotations: { idempotentHint: true },
  async handler(args, context) {
    const refused = precheck(context, type, args, { kind: "Node", name: args.name });
    if (refused) return refused;
    const { deps, signal } = context;
    const node = await readNode(deps, args.name, signal);
    const ready = !node.status?.conditions?.some((c) => c.type === "Ready" && c.status !== "True");
    return propose(context, type, {
      rawArguments: args,
      arguments: { name: args.name },
      evidence: { cordoned: node.spec?.unschedulable === true, ready },
      target: targetOf("Node", { metadata: { ...node.metadata, generation: undefined } }),
      object: node,
    });
  },
});
