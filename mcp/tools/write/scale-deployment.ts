import { z } from "zod";
import { defineTool } from "../../tool.ts";
import type { McpDeps } from "../../deps.ts";
import { deploymentArg, namespaceArg } from "../read/support/args.ts";
import { precheck, propose } from "./support/propose.ts";
import { writeInput } from "./support/schema.ts";
import { podsOfDeployment, readDeployment, targetOf } from "./support/targets.ts";

const inputSchema = writeInput({
  namespace: namespaceArg,
  name: deploymentArg,
  replicas: z.number().int().min(0).max(1000).describe("desired number of replicas (0–1000)"),
});

export const scaleDeployment = defineTool<McpDeps, typeof inputSchema.shape>({
  name: "scale_deployment",
  title: "Scale a deployment (needs approval)",
  description:
    "Propose setting a Deployment's replica count. Returns at once with 'pending approval (id act_…)'; a human approver (not the requester) must approve before anything changes. A HorizontalPodAutoscaler, if any, may later override the count.",
  inputSchema,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  async handler(args, context) {
    const refused = precheck(context, "scale_deployment", args, {
      kind: "Deployment",
      namespace: args.namespace,
      name: args.name,
    });
    if (refused) return refused;
    const { deps, signal } = context;
    const deployment = await readDeployment(deps, args.namespace, args.name, signal);
    const current = deployment.spec?.replicas ?? 1;
    const pods = args.replicas < current ? await podsOfDeployment(deps, deployment, signal) : [];
    return propose(context, {
      tool: "scale_deployment",
      rawArguments: args,
      arguments: { namespace: args.namespace, name: args.name, replicas: args.replicas },
      target: targetOf("Deployment", deployment),
      object: deployment,
      pods,
      summary: `Scale Deployment ${args.namespace}/${args.name} from ${current} to ${args.replicas} replica(s).`,
      preview: [
        `spec.replicas: ${current} → ${args.replicas}`,
        args.replicas < current
          ? `${current - args.replicas} pod(s) will be stopped.`
          : args.replicas > current
            ? `${args.replicas - current} pod(s) will be started.`
            : "No change in the replica count.",
      ],
      ...(args.replicas === 0
        ? {
            flags: [
              {
                rule: "scale-to-zero",
                message: `Scaling to 0 stops every pod of ${args.namespace}/${args.name}.`,
              },
            ],
          }
        : {}),
    });
  },
});
