import * as actions from "../../../core/actions/types/index.ts";
import { deploymentArg, namespaceArg } from "../read/support/args.ts";
import { defineDeploymentWriteTool } from "./support/deployment-tool.ts";
import { writeInput } from "./support/schema.ts";
import { podNames, podsOfDeployment } from "./support/targets.ts";

const type = actions.restartDeployment;
const inputSchema = writeInput({ namespace: namespaceArg, name: deploymentArg });

export const restartDeployment = defineDeploymentWriteTool(type, {
  title: "Restart a deployment (needs approval)",
  description:
    "Propose a rolling restart of a Deployment, like `kubectl rollout restart`: for a stuck or leaking process, once diagnosed.",
  inputSchema,
  annotations: { idempotentHint: false },
  async plan(args, deployment, { deps, signal }) {
    const pods = await podsOfDeployment(deps, deployment, signal);
    const strategy = deployment.spec?.strategy;
    return {
      arguments: { namespace: args.namespace, name: args.name },
      evidence: {
        pods: podNames(pods),
        strategy: strategy?.type === "Recreate" ? ("Recreate" as const) : ("RollingUpdate" as const),
        maxUnavailable: String(strategy?.rollingUpdate?.maxUnavailable ?? "25%"),
        maxSurge: String(strategy?.rollingUpdate?.maxSurge ?? "25%"),
        // Fixed now, so the API server's dry run answers exactly what will run.
        restartedAt: new Date().toISOString(),
      },
      pods,
    };
  },
});
