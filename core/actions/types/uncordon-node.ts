import { z } from "zod";
import { defineActionType } from "../action-type.ts";
import { nodeScheduleRequest, objectName } from "./support.ts";

export const uncordonNode = defineActionType({
  name: "uncordon_node",
  args: z.strictObject({ name: objectName }),
  evidence: z.strictObject({ cordoned: z.boolean(), ready: z.boolean() }),
  flags: (args, ev) =>
    ev.ready
      ? []
      : [
          {
            rule: "node-not-ready",
            message: `Node ${args.name} is NotReady: pods scheduled there may not start.`,
          },
        ],
  view: (args, ev) => ({
    summary: `Uncordon node ${args.name}.`,
    security: [],
    changes: [
      ev.cordoned
        ? "spec.unschedulable: true → false"
        : `Node ${args.name} is not cordoned; this changes nothing.`,
    ],
    notes: ["New pods may be scheduled on the node again."],
  }),
  inverse: (args, ev) =>
    ev.cordoned
      ? {
          tool: "cordon_node",
          arguments: { name: args.name },
          summary: `Undo: cordon node ${args.name} again.`,
        }
      : undefined,
  effect: (args) => ({ kind: "node-schedulable", name: args.name, unschedulable: false }),
  request: (args, _evidence, target) => nodeScheduleRequest(args.name, target, false),
  async run(context) {
    await context.writeApproved();
    return {
      message: `Node ${context.args.name} uncordoned: pods can be scheduled on it again.`,
      kubeStatus: 200,
    };
  },
});
