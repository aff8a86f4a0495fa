import { z } from "zod";
import { defineActionType } from "../action-type.ts";
import { deploymentRef, deploymentRequest, done, podsLine } from "./support.ts";

export const restartDeployment = defineActionType({
  name: "restart_deployment",
  args: z.strictObject(deploymentRef),
  evidence: z.strictObject({
    pods: z.array(z.string()),
    strategy: z.enum(["RollingUpdate", "Recreate"]),
    maxUnavailable: z.string(),
    maxSurge: z.string(),
    /** The restartedAt annotation, fixed at proposal so the dry run answers exactly what runs. */
    restartedAt: z.string().min(1).max(64),
  }),
  flags: (_args, evidence) =>
    evidence.strategy === "Recreate"
      ? [{ rule: "recreate-strategy", message: "Recreate strategy: the restart causes downtime." }]
      : [],
  view: (args, evidence) => ({
    summary: `Restart Deployment ${args.namespace}/${args.name} (rolling restart of ${evidence.pods.length} pod(s)).`,
    security: [],
    changes: [
      `spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]: set to ${evidence.restartedAt}`,
    ],
    notes: [
      evidence.strategy === "RollingUpdate"
        ? `Pods are replaced gradually (maxUnavailable ${evidence.maxUnavailable}, maxSurge ${evidence.maxSurge}).`
        : "Strategy Recreate: every pod stops before new ones start (downtime).",
      podsLine(evidence.pods, "Pods affected"),
      "Nothing else in the Deployment changes.",
    ],
  }),
  // A restart replaces pods; nothing to put back, so no Undo.
  effect: (args) => ({ kind: "rollout", namespace: args.namespace, name: args.name }),
  request: (args, evidence, target) =>
    deploymentRequest(args, target, {
      template: { metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": evidence.restartedAt } } },
    }),
  async run(context) {
    await context.writeApproved();
    return done(`Deployment ${context.args.namespace}/${context.args.name} is restarting.`);
  },
});
