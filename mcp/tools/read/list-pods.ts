import { z } from "zod";
import { tokensToChars } from "../../../core/untrusted/output-budget.ts";
import { defineTool } from "../../tool.ts";
import type { McpDeps } from "../../deps.ts";
import { plural, table } from "../../diagnose/format.ts";
import { summarisePod, type PodSummary } from "../../diagnose/pod-status.ts";
import {
  continueArg,
  fieldSelectorArg,
  limitArg,
  optionalNamespaceArg,
  selectorArg,
} from "./support/args.ts";
import { createOutput } from "./support/output.ts";
import { explainSelectorError, namespacePolicy, requireNamespace } from "./support/scope.ts";

/** Rough width of one table row, used to size pages to the output budget. */
const ROW_CHARS = 110;

const inputSchema = z.object({
  namespace: optionalNamespaceArg,
  labelSelector: selectorArg,
  fieldSelector: fieldSelectorArg,
  unhealthyOnly: z.boolean().default(false).describe("only pods not Running and ready"),
  limit: limitArg(100, 500),
  continue: continueArg,
});

export const listPods = defineTool<McpDeps, typeof inputSchema.shape>({
  name: "list_pods",
  title: "List pods",
  description:
    "Pods with kubectl STATUS (CrashLoopBackOff, OOMKilled, ImagePullBackOff, Pending…), READY, RESTARTS, AGE; unhealthyOnly=true for broken ones. Paged with `continue`.",
  inputSchema,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler(args, { deps, signal }) {
    const policy = namespacePolicy(deps);
    if (args.namespace) policy.assert(args.namespace);
    const budgetRows = Math.max(
      10,
      Math.floor((tokensToChars(deps.config.kube.outputTokenBudget) * 0.8) / ROW_CHARS),
    );
    const pageSize = Math.min(args.limit, budgetRows);
    const out = createOutput(deps.config.kube.outputTokenBudget);
    const where = args.namespace ? `namespace ${args.namespace}` : "all namespaces";
    const selectors = [args.labelSelector, args.fieldSelector].filter(Boolean).join(", ");

    const list = (opts: { limit?: number; continue?: string; maxItems?: number }) =>
      deps.kube.core
        .listPods(args.namespace, {
          labelSelector: args.labelSelector,
          fieldSelector: args.fieldSelector,
          signal,
          ...opts,
        })
        .catch((error: unknown) =>
          explainSelectorError(
            error,
            args.labelSelector ?? args.fieldSelector,
            args.labelSelector ? "label" : "field",
          ),
        );

    let pods: PodSummary[];
    let next: string | undefined;
    let remaining: number | undefined;
    let restarts = 0;
    let totalMatching: number | undefined;
    let hidden = 0;
    if (args.unhealthyOnly) {
      // Health is computed here, not by the API server, so read everything (bounded) and filter.
      const all = await list({ maxItems: 20_000 });
      restarts = all.restarts;
      const allowed = all.items.filter((p) => policy.allows(p.metadata?.namespace ?? ""));
      hidden = all.items.length - allowed.length;
      const unhealthy = allowed.map((p) => summarisePod(p)).filter((p) => p.unhealthy);
      totalMatching = unhealthy.length;
      pods = unhealthy.slice(0, pageSize);
      remaining = unhealthy.length - pods.length;
      out.line(
        `${plural(unhealthy.length, "unhealthy pod")} of ${allowed.length.toLocaleString("en-US")} in ${where}${selectors ? ` matching ${selectors}` : ""}${remaining > 0 ? `; showing the first ${pods.length} (narrow with namespace or labelSelector)` : ""}${all.truncated ? "; stopped after 20,000 pods" : ""}.`,
      );
    } else {
      const page = await list({ limit: pageSize, continue: args.continue });
      restarts = page.restarts;
      const allowed = page.items.filter((p) => policy.allows(p.metadata?.namespace ?? ""));
      hidden = page.items.length - allowed.length;
      pods = allowed.map((p) => summarisePod(p));
      next = page.continue;
      remaining = page.remainingItemCount;
      const unhealthy = pods.filter((p) => p.unhealthy).length;
      const more =
        next === undefined
          ? ""
          : remaining !== undefined
            ? `; ${remaining.toLocaleString("en-US")} more — call again with continue="${next}"`
            : `; more remain — call again with continue="${next}"`;
      out.line(
        `${plural(pods.length, "pod")} in ${where}${selectors ? ` matching ${selectors}` : ""}${args.continue && restarts === 0 ? " (next page)" : ""}, ${unhealthy} unhealthy${more}.`,
      );
      if (pageSize < args.limit)
        out.line(`Page size reduced from ${args.limit} to ${pageSize} to fit the output budget.`);
    }
    if (restarts > 0) {
      out.line(
        "The continue token had expired (410 Gone: the API server compacted that list version), so the list restarted from the first page; these results are complete and consistent.",
      );
    }
    if (hidden > 0)
      out.line(`${plural(hidden, "pod")} in namespaces hidden by Deputy's allow/deny lists not shown.`);
    if (pods.length === 0 && args.namespace && !args.continue) {
      // An empty list from a namespace that does not exist is a mistake worth naming.
      await requireNamespace(deps, args.namespace, signal);
    }
    if (pods.length > 0) {
      const all = !args.namespace;
      out.line(
        table(
          // kubectl's default columns: the node is for -o wide (kubectl tool) and structuredContent.
          [...(all ? ["NAMESPACE"] : []), "NAME", "READY", "STATUS", "RESTARTS", "AGE"],
          pods.map((p) => [
            ...(all ? [p.namespace] : []),
            p.name,
            p.ready,
            p.status,
            p.lastRestart ? `${p.restarts} (${p.lastRestart} ago)` : String(p.restarts),
            p.age,
          ]),
        ),
      );
    }
    return out.result({
      namespace: args.namespace ?? null,
      pods: pods.map((p) => ({
        namespace: p.namespace,
        name: p.name,
        status: p.status,
        ready: p.ready,
        restarts: p.restarts,
        node: p.node,
        age: p.age,
      })),
      count: pods.length,
      ...(totalMatching !== undefined ? { totalMatching } : {}),
      remaining: remaining ?? null,
      continue: next ?? null,
      restarted: restarts > 0,
    });
  },
});
