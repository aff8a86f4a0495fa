import { z } from "zod";
import { defineActionType } from "../action-type.ts";
import { deploymentRef, deploymentRequest, done, podsLine } from "./support.ts";

export const scaleDeployment = defineActionType({
  name: "scale_deployment",
  args: z.strictObject({ ...deploymentRef, replicas: z.number().int().min(0).max(1000) }),
  evidence: z.strictObject({ currentReplicas: z.number().int().min(0), pods: z.array(z.string()) }),
  flags: (args) =>
    args.replicas === 0
      ? [
          {
            rule: "scale-to-zero",
            message: `Scaling to 0 stops every pod of ${args.namespace}/${args.name}.`,
          },
        ]
      : [],
  view: (args, evidence) => {
    const current = evidence.currentReplicas;
    return {
      summary: `Scale Deployment ${args.namespace}/${args.name} from ${current} to ${args.replicas} replica(s).`,
      security: [],
      changes: [`spec.replicas: ${current} → ${args.replicas}`],
      notes: [
        args.replicas < current
          ? `${current - args.replicas} pod(s) will be stopped.`
          : args.replicas > current
            ? `${args.replicas - current} pod(s) will be started.`
            : "No change in the replica count.",
        ...(evidence.pods.length > 0 ? [podsLine(evidence.pods, "Pods now running")] : []),
      ],
    };
  },
  inverse: (args, evidence) =>
    evidence.currentReplicas === args.replicas
      ? undefined
      : {
          tool: "scale_deployment",
          arguments: { namespace: args.namespace, name: args.name, replicas: evidence.currentReplicas },
          summary: `Undo: scale Deployment ${args.namespace}/${args.name} back to ${evidence.currentReplicas} replica(s).`,
        },
  effect: (args) => ({
    kind: "rollout",
    namespace: args.namespace,
    name: args.name,
    replicas: args.replicas,
  }),
  request: (args, _evidence, target) => deploymentRequest(args, target, { replicas: args.replicas }),
  async run(context) {
    await context.writeApproved();
    const { namespace, name, replicas } = context.args;
    return done(
      `Deployment ${namespace}/${name} scaled from ${context.evidence.currentReplicas} to ${replicas} replicas.`,
    );
  },
});
