import { z } from "zod";
import { defineTool } from "../../tool.ts";
import type { McpDeps } from "../../deps.ts";
import { analyseNode, nodeReadyStatus } from "../../diagnose/node.ts";
import { age, plural, table } from "../../diagnose/format.ts";
import { createOutput } from "./support/output.ts";

const inputSchema = z.object({
  includeHealthy: z.boolean().default(false).describe("also list healthy nodes"),
});

export const showUnhealthyNodes = defineTool<McpDeps, typeof inputSchema.shape>({
  name: "show_unhealthy_nodes",
  title: "Show unhealthy nodes",
  description:
    "List nodes that are NotReady, under Memory/Disk/PID pressure, cordoned or otherwise unhealthy, with the reason for each. Use it when pods are Pending, evicted or Unknown, or to check cluster health; then troubleshoot_node for one node.",
  inputSchema,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler(args, { deps, signal }) {
    const nodes = await deps.kube.core.listNodes({ maxItems: 5000, signal });
    const analysed = nodes.items.map((node) => ({ node, diagnosis: analyseNode(node) }));
    const unhealthy = analysed.filter(
      (a) => a.diagnosis.severity === "warning" || a.diagnosis.severity === "critical",
    );
    const shown = args.includeHealthy ? analysed : unhealthy;
    const out = createOutput(deps.config.kube.outputTokenBudget);
    out.line(`${plural(unhealthy.length, "unhealthy node")} of ${nodes.items.length}.`);
    if (shown.length > 0) {
      out.line(
        table(
          ["NAME", "STATUS", "PROBLEMS", "AGE"],
          shown.map(({ node, diagnosis }) => [
            node.metadata?.name ?? "",
            nodeReadyStatus(node),
            diagnosis.findings
              .filter((f) => f.severity !== "ok" && f.severity !== "info")
              .map((f) => f.rule)
              .join(",") || "-",
            age(node.metadata?.creationTimestamp),
          ]),
        ),
      );
      for (const { diagnosis } of unhealthy) {
        out.line(`\n${diagnosis.subject}: ${diagnosis.status} [${diagnosis.severity}]`);
        out.diagnosis({ ...diagnosis, findings: diagnosis.findings.filter((f) => f.severity !== "info") });
      }
    }
    return out.result({
      total: nodes.items.length,
      unhealthy: unhealthy.map(({ node, diagnosis }) => ({
        name: node.metadata?.name,
        status: nodeReadyStatus(node),
        severity: diagnosis.severity,
        problems: diagnosis.findings
          .filter((f) => f.severity !== "ok" && f.severity !== "info")
          .map((f) => f.rule),
      })),
    });
  },
});
