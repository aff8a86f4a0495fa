import { z } from "zod";
import { defineActionType } from "../action-type.ts";
import {
  deploymentRef,
  done,
  guardedPatch,
  liveDeployment,
  objectName,
  podsLine,
  requireContainer,
} from "./support.ts";

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
  async run(context) {
    const { namespace, name, container, requests, limits } = context.args;
    const live = await liveDeployment(context);
    requireContainer(live, container);
    const resources: Record<string, Record<string, string>> = {};
    if (Object.keys(requests).length > 0) resources.requests = requests as Record<string, string>;
    if (Object.keys(limits).length > 0) resources.limits = limits as Record<string, string>;
    await guardedPatch(context, live, {
      template: { spec: { containers: [{ name: container, resources }] } },
    });
    return done(`Deployment ${namespace}/${name}: resources of ${container} updated.`);
  },
});
