import { z } from "zod";
import { defineActionType } from "../action-type.ts";
import { deploymentRef, deploymentRequest, done, objectName, podsLine } from "./support.ts";

const quantity = z.string().regex(/^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$/);
const amounts = z.strictObject({ cpu: quantity.optional(), memory: quantity.optional() });
const current = z.strictObject({
  requests: z.record(z.string(), z.string()),
  limits: z.record(z.string(), z.string()),
});

export const setDeploymentResources = defineActionType({
  name: "set_deployment_resources",
  args: z.strictObject({ ...deploymentRef, container: objectName, requests: amounts, limits: amounts }),
  evidence: z.strictObject({ current, pods: z.array(z.string()) }),
  view: (args, ev) => ({
    summary: `Change resources of ${args.container} in Deployment ${args.namespace}/${args.name}.`,
    security: [],
    changes: (["requests", "limits"] as const).flatMap((kind) =>
      Object.entries(args[kind]).map(
        ([resource, value]) =>
          `container ${args.container}: ${kind}.${resource} ${ev.current[kind][resource] ?? "(none)"} → ${value}`,
      ),
    ),
    notes: [podsLine(ev.pods, "Pods replaced by a rolling update")],
  }),
  inverse: (args, ev) => {
    const back = { requests: {} as Record<string, string>, limits: {} as Record<string, string> };
    for (const kind of ["requests", "limits"] as const) {
      for (const resource of Object.keys(args[kind])) {
        const previous = ev.current[kind][resource];
        // A value that was not set cannot be unset through the tool: no honest undo.
        if (previous === undefined) return undefined;
        back[kind][resource] = previous;
      }
    }
    return {
      tool: "set_deployment_resources",
      arguments: { namespace: args.namespace, name: args.name, container: args.container, ...back },
      summary: `Undo: put back the previous resources of ${args.container} in Deployment ${args.namespace}/${args.name}.`,
    };
  },
  effect: (args) => ({ kind: "rollout", namespace: args.namespace, name: args.name }),
  request: (args, _evidence, target) => {
    const resources: Record<string, Record<string, string>> = {};
    if (Object.keys(args.requests).length > 0) resources.requests = args.requests as Record<string, string>;
    if (Object.keys(args.limits).length > 0) resources.limits = args.limits as Record<string, string>;
    return deploymentRequest(args, target, {
      template: { spec: { containers: [{ name: args.container, resources }] } },
    });
  },
  async run(context) {
    const { namespace, name, container } = context.args;
    await context.writeApproved();
    return done(`Deployment ${namespace}/${name}: resources of ${container} updated.`);
  },
});
