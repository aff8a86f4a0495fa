import { nodeArg } from "../read/support/args.ts";
import { podsOnNode, readNode } from "./support/nodes.ts";
import * as actions from "../../../core/actions/types/index.ts";
import { defineWriteTool, precheck, propose } from "./support/propose.ts";
import { writeInput } from "./support/schema.ts";
import { targetOf } from "./support/targets.ts";

const type = actions.cordonNode;

const inputSchema = writeInput({ name: nodeArg });

export const cordonNode = defineWriteTool<typeof inputSchema.shape>(type, {
  title: "Cordon a node (needs approval)",
  description: "Propose marking a node unschedulable; its pods keep running (drain_node moves them).",
  inputSchema,
  annotations: { idempotentHint: true },
  async handler(args, context) {
    const refused = precheck(context, type, args, { kind: "Node", name: args.name });
    if (refused) return refused;
    const { deps, signal } = context;
    const node = await readNode(deps, args.name, signal);
    const pods = await podsOnNode(deps, args.name, signal);
    return propose(context, type, {
      rawArguments: args,
      arguments: { name: args.name },
      evidence: { alreadyCordoned: node.spec?.unschedulable === true, podCount: pods.length },
      target: targetOf("Node", { metadata: { ...node.metadata, generation: undefined } }),
      object: node,
    });
  },
});
