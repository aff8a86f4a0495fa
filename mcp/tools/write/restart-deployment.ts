import { defineTool } from "../../tool.ts";
import type { McpDeps } from "../../deps.ts";
import { deploymentArg, namespaceArg } from "../read/support/args.ts";
import { precheck, propose } from "./support/propose.ts";
import { writeInput } from "./support/schema.ts";
import { podsOfDeployment, readDeployment, targetOf } from "./support/targets.ts";

const inputSchema = writeInput({ namespace: namespaceArg, name: deploymentArg });

export const restartDeployment = defineTool<McpDeps, typeof inputSchema.shape>({
  name: "restart_deployment",
  title: "Restart a deployment (needs approval)",
  description:
    "Propose a rolling restart of a Deployment (like `kubectl rollout restart`): its pods are replaced one by one following its update strategy. Use it for a stuck or leaking process after diagnosing it. Nothing happens until a human approver (not the requester) approves; the tool returns at once with 'pending approval (id act_…)'. Do not wait or retry: the approval result is posted to the conversation.",
  inputSchema,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  async handler(args, context) {
    const refused = precheck(context, "restart_deployment", args, {
      kind: "Deployment",
      namespace: args.namespace,
      name: args.name,
    });
    if (refused) return refused;
    const { deps, signal } = context;
    const deployment = await readDeployment(deps, args.namespace, args.name, signal);
    const pods = await podsOfDeployment(deps, deployment, signal);
    const strategy = deployment.spec?.strategy;
    const rolling = strategy?.type !== "Recreate";
    return propose(context, {
      tool: "restart_deployment",
      rawArguments: args,
      arguments: { namespace: args.namespace, name: args.name },
      target: targetOf("Deployment", deployment),
      object: deployment,
      pods,
      summary: `Restart Deployment ${args.namespace}/${args.name} (rolling restart of ${pods.length} pod(s)).`,
      preview: [
        rolling
          ? `Pods are replaced gradually (maxUnavailable ${String(strategy?.rollingUpdate?.maxUnavailable ?? "25%")}, maxSurge ${String(strategy?.rollingUpdate?.maxSurge ?? "25%")}).`
          : "Strategy Recreate: every pod stops before new ones start (downtime).",
        `Pods affected: ${pods.map((pod) => pod.metadata?.name).join(", ") || "none running"}.`,
        "The pod template gets the annotation kubectl.kubernetes.io/restartedAt; nothing else changes.",
      ],
      ...(rolling
        ? {}
        : {
            flags: [
              { rule: "recreate-strategy", message: "Recreate strategy: the restart causes downtime." },
            ],
          }),
    });
  },
});
