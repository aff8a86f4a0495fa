import { z } from "zod";
import { defineTool } from "../../tool.ts";
import type { McpDeps } from "../../deps.ts";
import { age, plural, safe, table } from "../../diagnose/format.ts";
import { selectorArg } from "./support/args.ts";
import { createOutput } from "./support/output.ts";
import { explainSelectorError, namespacePolicy } from "./support/scope.ts";

export const listNamespaces = defineTool<McpDeps, { labelSelector: typeof selectorArg }>({
  name: "list_namespaces",
  title: "List namespaces",
  description: "The namespaces Deputy may read, with status and age.",
  inputSchema: z.object({ labelSelector: selectorArg }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler(args, { deps, signal }) {
    const policy = namespacePolicy(deps);
    const result = await deps.kube.core
      .listNamespaces({ labelSelector: args.labelSelector, maxItems: 5000, signal })
      .catch((error: unknown) => explainSelectorError(error, args.labelSelector));
    const visible = result.items.filter((n) => policy.allows(n.metadata?.name ?? ""));
    const hidden = result.items.length - visible.length;
    const out = createOutput(deps.config.kube.outputTokenBudget);
    out.line(
      `${plural(visible.length, "namespace")}${hidden > 0 ? ` (${hidden} more hidden by Deputy's namespace allow/deny lists)` : ""}.`,
    );
    out.line(
      table(
        ["NAME", "STATUS", "AGE"],
        visible.map((n) => [
          safe(n.metadata?.name),
          safe(n.status?.phase ?? "Unknown"),
          age(n.metadata?.creationTimestamp),
        ]),
      ),
    );
    return out.result({
      namespaces: visible.map((n) => ({ name: n.metadata?.name, status: n.status?.phase })),
      hidden,
    });
  },
});
