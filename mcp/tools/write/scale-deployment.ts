import { z } from "zod";
import * as actions from "../../../core/actions/types/index.ts";
import { deploymentArg, namespaceArg } from "../read/support/args.ts";
import { defineDeploymentWriteTool } from "./support/deployment-tool.ts";
import { writeInput } from "./support/schema.ts";
import { podNames, podsOfDeployment } from "./support/targets.ts";

const type = actions.scaleDeployment;
const inputSchema = writeInput({
  namespace: namespaceArg,
  name: deploymentArg,
  replicas: z.number().int().min(0).max(1000).describe("desired number of replicas (0–1000)"),
});

export const scaleDeployment = defineDeploymentWriteTool(type, {
  title: "Scale a deployment (needs approval)",
  description: "Propose a Deployment's replica count; a HorizontalPodAutoscaler may later override it.",
  inputSchema,
  annotations: { idempotentHint: true },
  async plan(args, deployment, { deps, signal }) {
    const current = deployment.spec?.replicas ?? 1;
    const pods = args.replicas < current ? await podsOfDeployment(deps, deployment, signal) : [];
    return {
      arguments: { namespace: args.namespace, name: args.name, replicas: args.replicas },
      evidence: { currentReplicas: current, pods: podNames(pods) },
      pods,
    };
  },
});
