import { z } from "zod";
import { defineTool } from "../../tool.ts";
import type { McpDeps } from "../../deps.ts";
import { analyseNode, nodeReadyStatus } from "../../diagnose/node.ts";
import { age, plural, table } from "../../diagnose/format.ts";
import type { Diagnosis } from "../../diagnose/types.ts";
import { createOutput } from "./support/output.ts";

const inputSchema = z.object({
  includeHealthy: z.boolean().default(false),
});

function problemsOf(diagnosis: Diagnosis): string[] {
  return diagnosis.findings.filter((f) => f.severity !== "ok" && f.severity !== "info").map((f) => f.rule);
}

export const showUnhealthyNodes = defineTool<McpDeps, typeof inputSchema.shape>({
  name: "show_unhealthy_nodes",
  title: "Show unhealthy nodes",
  description:
    "Nodes that are NotReady, under memory/disk/PID pressure or cordoned, with the reasons; then troubleshoot_node for one.",
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
    out.line(
      `${plural(unhealthy.length, "unhealthy node")} of ${nodes.items.length}${unhealthy.length > 0 ? "; troubleshoot_node explains one" : ""}.`,
    );
    if (shown.length > 0) {
      // The table is what a person scans first; each node's evidence is one troubleshoot_node away.
      out.line(
        table(
          ["NAME", "STATUS", "PROBLEMS", "AGE"],
          shown.map(({ node, diagnosis }) => [
            node.metadata?.name ?? "",
            nodeReadyStatus(node),
            problemsOf(diagnosis).join(",") || "-",
            age(node.metadata?.creationTimestamp),
          ]),
        ),
      );
    }
    return out.result({
      total: nodes.items.length,
      unhealthy: unhealthy.map(({ node, diagnosis }) => ({
        name: node.metadata?.name,
        status: nodeReadyStatus(node),
        severity: diagnosis.severity,
        problems: problemsOf(diagnosis),
      })),
    });
  },
});
