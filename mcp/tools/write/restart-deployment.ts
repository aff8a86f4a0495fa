import * as actions from "../../../core/actions/types/index.ts";
import { deploymentArg, namespaceArg } from "../read/support/args.ts";
import { defineWriteTool, precheck, propose } from "./support/propose.ts";
import { writeInput } from "./support/schema.ts";
import { podNames, podsOfDeployment, readDeployment, targetOf } from "./support/targets.ts";

const type = actions.restartDeployment;
const inputSchema = writeInput({ namespace: namespaceArg, name: deploymentArg });

export const restartDeployment = defineWriteTool<typeof inputSchema.shape>(type, {
  title: "Restart a deployment (needs approval)",
  description:
    "Propose a rolling restart of a Deployment, like `kubectl rollout restart`: for a stuck or leaking process, once diagnosed.",
  inputSchema,
  annotations: { idempotentHint: false },
  async handler(args, context) {
    const target = { kind: "Deployment", namespace: args.namespace, name: args.name };
    const refused = precheck(context, type, args, target);
    if (refused) return refused;
    const { deps, signal } = context;
    const deployment = await readDeployment(deps, args.namespace, args.name, signal);
    const pods = await podsOfDeployment(deps, deployment, signal);
    const strategy = deployment.spec?.strategy;
    return propose(context, type, {
      rawArguments: args,
      arguments: { namespace: args.namespace, name: args.name },
      evidence: {
        pods: podNames(pods),
        strategy: strategy?.type === "Recreate" ? ("Recreate" as const) : ("RollingUpdate" as const),
        maxUnavailable: String(strategy?.rollingUpdate?.maxUnavailable ?? "25%"),
        maxSurge: String(strategy?.rollingUpdate?.maxSurge ?? "25%"),
      },
      target: targetOf("Deployment", deployment),
      object: deployment,
      pods,
    });
  },
});
