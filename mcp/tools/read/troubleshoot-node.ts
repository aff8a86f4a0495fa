import { z } from "zod";
import { DeputyError } from "../../../core/errors.ts";
import { isKubeApiError } from "../../../core/kube/errors.ts";
import { defineTool } from "../../tool.ts";
import type { McpDeps } from "../../deps.ts";
import { plural, table } from "../../diagnose/format.ts";
import { analyseNode, describeUsage, nodeUsage } from "../../diagnose/node.ts";
import { summarisePod } from "../../diagnose/pod-status.ts";
import { nodeArg } from "./support/args.ts";
import { createOutput } from "./support/output.ts";
import { namespacePolicy, similarNames } from "./support/scope.ts";

const inputSchema = z.object({ name: nodeArg });

const MAX_PODS = 10;

export const troubleshootNode = defineTool<McpDeps, typeof inputSchema.shape>({
  name: "troubleshoot_node",
  title: "Troubleshoot a node",
  description:
    "One node's diagnosis: readiness and heartbeat, pressure, cordon, taints, its unhealthy pods, requests against allocatable.",
  inputSchema,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler(args, { deps, signal }) {
    let node;
    try {
      node = await deps.kube.core.readNode(args.name, signal);
    } catch (error) {
      if (!isKubeApiError(error, 404)) throw error;
      const names = (await deps.kube.core.listNodes({ limit: 500, signal })).items.map(
        (n) => n.metadata?.name ?? "",
      );
      const similar = similarNames(args.name, names);
      throw new DeputyError(
        "NOT_FOUND",
        `node "${args.name}" not found${similar.length ? `; did you mean ${similar.join(", ")}?` : `; nodes: ${names.slice(0, 10).join(", ")}`}`,
      );
    }
    const pods = await deps.kube.core.listPods(undefined, {
      fieldSelector: `spec.nodeName=${args.name}`,
      maxItems: 2000,
      signal,
    });
    const diagnosis = analyseNode(node, pods.items);
    const usage = nodeUsage(node, pods.items);
    const policy = namespacePolicy(deps);
    const visible = pods.items
      .filter((p) => policy.allows(p.metadata?.namespace ?? ""))
      .map((p) => summarisePod(p));
    const notReady = visible.filter((p) => p.unhealthy);
    const out = createOutput(deps.config.kube.outputTokenBudget);
    out.diagnosis(diagnosis, `${diagnosis.subject}, ${diagnosis.status}:`);
    out.line(`Requests vs allocatable: ${describeUsage(usage).join("; ")}.`);
    out.line(
      `${plural(pods.items.length, "pod")} on the node${visible.length < pods.items.length ? ` (${pods.items.length - visible.length} in hidden namespaces)` : ""}, ${notReady.length} not healthy${notReady.length > 0 ? ":" : "."}`,
    );
    if (notReady.length > 0) {
      out.line(
        table(
          ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS"],
          notReady
            .slice(0, MAX_PODS)
            .map((p) => [p.namespace, p.name, p.ready, p.status, String(p.restarts)]),
        ),
      );
      if (notReady.length > MAX_PODS)
        out.line(
          `(${notReady.length - MAX_PODS} more: list_pods with fieldSelector spec.nodeName=${args.name})`,
        );
    }
    // Labels, addresses, capacity and versions are one call away, not in every diagnosis.
    out.line(`Full details: kubectl "describe node ${args.name}".`);
    return out.result({
      name: args.name,
      status: diagnosis.status,
      severity: diagnosis.severity,
      findings: diagnosis.findings.map((f) => ({
        rule: f.rule,
        severity: f.severity,
        ...(f.facts ? { facts: f.facts } : {}),
      })),
      usage,
      pods: pods.items.length,
      podsNotHealthy: notReady.length,
    });
  },
});
