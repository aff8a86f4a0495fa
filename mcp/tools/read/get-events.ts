import { z } from "zod";
import { eventTime } from "../../../core/kube/client.ts";
import { objectName } from "../../../core/kube/names.ts";
import { defineTool } from "../../tool.ts";
import type { McpDeps } from "../../deps.ts";
import { age, eventMessage, plural, safe, table } from "../../diagnose/format.ts";
import { optionalNamespaceArg } from "./support/args.ts";
import { createOutput } from "./support/output.ts";
import { namespacePolicy, requireNamespace } from "./support/scope.ts";

const inputSchema = z.object({
  namespace: optionalNamespaceArg,
  kind: z
    .string()
    .regex(/^[A-Z][A-Za-z0-9]{0,62}$/, {
      message: "kind must be a Kubernetes Kind such as Pod, Deployment or Node",
    })
    .optional()
    .describe("object Kind, e.g. Pod, Node"),
  name: objectName("object name").optional().describe("object name"),
  type: z.enum(["Warning", "Normal", "all"]).default("all"),
  sinceMinutes: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 60)
    .optional()
    .describe("only the last N minutes"),
  limit: z.number().int().min(1).max(200).default(40),
});

export const getEvents = defineTool<McpDeps, typeof inputSchema.shape>({
  name: "get_events",
  title: "Get events",
  description: "Recent events, newest last: scheduling, image pulls, probes, OOM kills, evictions.",
  inputSchema,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler(args, { deps, signal }) {
    const policy = namespacePolicy(deps);
    if (args.namespace) policy.assert(args.namespace);
    const fields: string[] = [];
    if (args.kind) fields.push(`involvedObject.kind=${args.kind}`);
    if (args.name) fields.push(`involvedObject.name=${args.name}`);
    if (args.type !== "all") fields.push(`type=${args.type}`);
    const result = await deps.kube.core.listEvents(args.namespace, {
      fieldSelector: fields.join(",") || undefined,
      maxItems: 5000,
      signal,
    });
    if (result.items.length === 0 && args.namespace) await requireNamespace(deps, args.namespace, signal);
    const cutoff = args.sinceMinutes ? Date.now() - args.sinceMinutes * 60_000 : 0;
    const allowed = result.items.filter((e) =>
      policy.allows(e.metadata?.namespace ?? e.involvedObject?.namespace ?? ""),
    );
    const events = allowed
      .filter((e) => !cutoff || Date.parse(eventTime(e)) >= cutoff)
      .sort((a, b) => eventTime(a).localeCompare(eventTime(b)));
    const shown = events.slice(-args.limit);
    const out = createOutput(deps.config.kube.outputTokenBudget);
    const filters = [args.kind, args.name, args.type !== "all" ? args.type : undefined]
      .filter(Boolean)
      .join(" ");
    out.line(
      `${plural(events.length, "event")} in ${args.namespace ? `namespace ${args.namespace}` : "all namespaces"}${filters ? ` for ${filters}` : ""}${args.sinceMinutes ? ` in the last ${args.sinceMinutes} min` : ""}${events.length > shown.length ? `; showing the ${shown.length} most recent` : ""}.`,
    );
    if (allowed.length < result.items.length) {
      out.line(`${plural(result.items.length - allowed.length, "event")} in hidden namespaces not shown.`);
    }
    if (shown.length > 0) {
      const all = !args.namespace;
      // A column that filters made constant says nothing on every row.
      const typed = args.type === "all";
      out.data(
        `events ${args.namespace ?? "all-namespaces"}`,
        table(
          [
            "LAST SEEN",
            ...(typed ? ["TYPE"] : []),
            "REASON",
            ...(all ? ["NAMESPACE"] : []),
            "OBJECT",
            "COUNT",
            "MESSAGE",
          ],
          shown.map((e) => [
            age(eventTime(e)),
            ...(typed ? [e.type ?? ""] : []),
            e.reason ?? "",
            ...(all ? [e.metadata?.namespace ?? ""] : []),
            `${(e.involvedObject?.kind ?? "").toLowerCase()}/${e.involvedObject?.name ?? ""}`,
            String(e.count ?? 1),
            eventMessage(e.message),
          ]),
        ),
        "tail",
      );
    }
    return out.result({
      namespace: args.namespace ?? null,
      total: events.length,
      shown: shown.length,
      warnings: events.filter((e) => e.type === "Warning").length,
      // Reasons are free text in the API: only their safe characters go into structured facts.
      reasons: [...new Set(shown.map((e) => safe(e.reason ?? "", 60)))].slice(0, 30),
    });
  },
});
