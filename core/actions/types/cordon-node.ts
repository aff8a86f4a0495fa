import { z } from "zod";
import { defineActionType } from "../action-type.ts";
import { nodeScheduleRequest, objectName } from "./support.ts";

export const cordonNode = defineActionType({
  name: "cordon_node",
  args: z.strictObject({ name: objectName }),
  evidence: z.strictObject({ alreadyCordoned: z.boolean(), podCount: z.number().int().min(0) }),
  view: (args, ev) => ({
    summary: `Cordon node ${args.name}.`,
    security: [],
    changes: [
      ev.alreadyCordoned
        ? `Node ${args.name} is already cordoned; this changes nothing.`
        : "spec.unschedulable: false → true",
    ],
    notes: [`${ev.podCount} pod(s) on the node keep running.`],
  }),
  inverse: (args, ev) =>
    ev.alreadyCordoned
      ? undefined
      : {
          tool: "uncordon_node",
          arguments: { name: args.name },
          summary: `Undo: uncordon node ${args.name}.`,
        },
  effect: (args) => ({ kind: "node-schedulable", name: args.name, unschedulable: true }),
  request: (args, _evidence, target) => nodeScheduleRequest(args.name, target, true),
  async run(context) {
    await context.writeApproved();
    return {
      message: `Node ${context.args.name} cordoned: no new pods will be scheduled on it.`,
      kubeStatus: 200,
    };
  },
});
