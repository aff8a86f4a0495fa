import { z } from "zod";
import { defineTool } from "../../tool.ts";
import type { McpDeps } from "../../deps.ts";
import { gitOpsManager, rolloutStatus } from "../../diagnose/describe.ts";
import { age, plural, table } from "../../diagnose/format.ts";
import { optionalNamespaceArg, selectorArg } from "./support/args.ts";
import { createOutput } from "./support/output.ts";
import { explainSelectorError, namespacePolicy, requireNamespace } from "./support/scope.ts";

const inputSchema = z.object({ namespace: optionalNamespaceArg, labelSelector: selectorArg });

export const listDeployments = defineTool<McpDeps, typeof inputSchema.shape>({
  name: "list_deployments",
  title: "List deployments",
  description:
    "Deployments with ready/up-to-date/available replicas, rollout state and the GitOps tool (Argo CD, Flux) managing each: change those in Git, not live.",
  inputSchema,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler(args, { deps, signal }) {
    const policy = namespacePolicy(deps);
    if (args.namespace) policy.assert(args.namespace);
    const result = await deps.kube.apps
      .listDeployments(args.namespace, { labelSelector: args.labelSelector, maxItems: 2000, signal })
      .catch((error: unknown) => explainSelectorError(error, args.labelSelector));
    if (result.items.length === 0 && args.namespace) await requireNamespace(deps, args.namespace, signal);
    const items = result.items.filter((d) => policy.allows(d.metadata?.namespace ?? ""));
    const rows = items.map((d) => {
      const rollout = rolloutStatus(d);
      const s = d.status ?? {};
      return {
        namespace: d.metadata?.namespace ?? "",
        name: d.metadata?.name ?? "",
        ready: `${s.readyReplicas ?? 0}/${d.spec?.replicas ?? 1}`,
        upToDate: s.updatedReplicas ?? 0,
        available: s.availableReplicas ?? 0,
        age: age(d.metadata?.creationTimestamp),
        state: rollout.done
          ? (s.availableReplicas ?? 0) < (d.spec?.replicas ?? 1)
            ? "Degraded"
            : "Ready"
          : "Progressing",
        managedBy: gitOpsManager(d.metadata) ?? "",
      };
    });
    const out = createOutput(deps.config.kube.outputTokenBudget);
    const degraded = rows.filter((r) => r.state !== "Ready").length;
    out.line(
      `${plural(rows.length, "Deployment")} in ${args.namespace ? `namespace ${args.namespace}` : "all namespaces"}, ${degraded} not fully ready${items.length < result.items.length ? `; ${result.items.length - items.length} in hidden namespaces not shown` : ""}.`,
    );
    if (rows.length > 0) {
      const all = !args.namespace;
      out.line(
        table(
          [
            ...(all ? ["NAMESPACE"] : []),
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "STATE",
            "MANAGED-BY",
          ],
          rows.map((r) => [
            ...(all ? [r.namespace] : []),
            r.name,
            r.ready,
            String(r.upToDate),
            String(r.available),
            r.age,
            r.state,
            r.managedBy || "-",
          ]),
        ),
      );
    }
    return out.result({ namespace: args.namespace ?? null, deployments: rows });
  },
});
