import { z } from "zod";
import { defineTool } from "../../tool.ts";
import type { McpDeps } from "../../deps.ts";
import { describeDeployment as describeText, gitOpsManager, rolloutStatus } from "../../diagnose/describe.ts";
import { deploymentArg, namespaceArg } from "./support/args.ts";
import { createOutput } from "./support/output.ts";
import { namespacePolicy, notFound } from "./support/scope.ts";

const inputSchema = z.object({ namespace: namespaceArg, name: deploymentArg });

export const describeDeployment = defineTool<McpDeps, typeof inputSchema.shape>({
  name: "describe_deployment",
  title: "Describe a deployment",
  description:
    "One Deployment: rollout status, replicas, strategy, containers, conditions, ReplicaSets by revision with images (rollback targets), pod states, events, GitOps manager.",
  inputSchema,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler(args, { deps, signal }) {
    namespacePolicy(deps).assert(args.namespace);
    const deployment = await deps.kube.apps
      .readDeployment(args.namespace, args.name, signal)
      .catch((error: unknown) =>
        notFound(
          deps,
          error,
          {
            kind: "Deployment",
            namespace: args.namespace,
            name: args.name,
            candidates: async () =>
              (await deps.kube.apps.listDeployments(args.namespace, { limit: 500, signal })).items.map(
                (d) => d.metadata?.name ?? "",
              ),
          },
          signal,
        ),
      );
    const selector = Object.entries(deployment.spec?.selector?.matchLabels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    const uid = deployment.metadata?.uid;
    const [replicaSets, pods, events] = await Promise.all([
      deps.kube.apps.listReplicaSets(args.namespace, {
        labelSelector: selector || undefined,
        maxItems: 200,
        signal,
      }),
      deps.kube.core.listPods(args.namespace, {
        labelSelector: selector || undefined,
        maxItems: 500,
        signal,
      }),
      deps.kube.events.forObject(
        { kind: "Deployment", namespace: args.namespace, name: args.name, uid },
        signal,
      ),
    ]);
    const owned = replicaSets.items.filter((rs) => rs.metadata?.ownerReferences?.some((o) => o.uid === uid));
    const rollout = rolloutStatus(deployment);
    const manager = gitOpsManager(deployment.metadata);
    const out = createOutput(deps.config.kube.outputTokenBudget);
    out.line(`Deployment ${args.namespace}/${args.name}: ${rollout.message}.`);
    if (manager) {
      out.line(
        `Managed by ${manager}: change it in Git (propose_git_change), not in the cluster — direct changes are refused and would be reverted.`,
      );
    }
    out.data(
      `describe deployment ${args.namespace}/${args.name}`,
      describeText(deployment, owned, pods.items, events),
    );
    const s = deployment.status ?? {};
    return out.result({
      namespace: args.namespace,
      name: args.name,
      uid,
      resourceVersion: deployment.metadata?.resourceVersion,
      revision: deployment.metadata?.annotations?.["deployment.kubernetes.io/revision"],
      replicas: deployment.spec?.replicas ?? 1,
      readyReplicas: s.readyReplicas ?? 0,
      updatedReplicas: s.updatedReplicas ?? 0,
      availableReplicas: s.availableReplicas ?? 0,
      rolloutComplete: rollout.done,
      managedBy: manager ?? null,
      replicaSets: owned.map((rs) => ({
        name: rs.metadata?.name,
        revision: rs.metadata?.annotations?.["deployment.kubernetes.io/revision"],
        replicas: rs.spec?.replicas ?? 0,
        ready: rs.status?.readyReplicas ?? 0,
      })),
    });
  },
});
