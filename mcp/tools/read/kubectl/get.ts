import {
  TABLE_ACCEPT,
  delegate,
  checkName,
  targets,
  resolveReadable,
  namespaceFor,
  cell,
  stripNoise,
  type KubeTable,
  type Ctx,
} from "./shared.ts";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { tokensToChars } from "../../../../core/untrusted/output-budget.ts";
import { DeputyError } from "../../../../core/errors.ts";
import { isKubeApiError } from "../../../../core/kube/errors.ts";
import type { KubeObject } from "../../../../core/kube/types.ts";
import { redactValue } from "../../../../core/untrusted/redact.ts";
import { plural, table } from "../../../diagnose/format.ts";
import { objectYaml } from "../get-resource.ts";
import { listDeployments } from "../list-deployments.ts";
import { listPods } from "../list-pods.ts";
import { createOutput } from "../support/output.ts";
import { type KubectlCommand } from "./parse.ts";
import { namespacePolicy, requireNamespace } from "../support/scope.ts";

export async function get(command: KubectlCommand, context: Ctx): Promise<CallToolResult> {
  const { deps, signal } = context;
  const wanted = targets(command.args);
  // The richer tools answer the common questions.
  const only = wanted.length === 1 ? wanted[0]! : undefined;
  if (only && only.names.length === 0 && (!command.output || command.output === "wide")) {
    const resource = await resolveReadable(deps, only.type, signal);
    const namespace = command.allNamespaces ? undefined : (command.namespace ?? "default");
    if (resource.resource === "pods" && resource.group === "") {
      return delegate(
        listPods,
        {
          namespace,
          labelSelector: command.selector,
          fieldSelector: command.fieldSelector,
          limit: command.limit ?? 100,
        },
        context,
      );
    }
    if (resource.resource === "deployments" && resource.group === "apps" && !command.fieldSelector) {
      return delegate(listDeployments, { namespace, labelSelector: command.selector }, context);
    }
  }
  const policy = namespacePolicy(deps);
  const out = createOutput(deps.config.kube.outputTokenBudget);
  const rowBudget = Math.max(
    10,
    Math.floor((tokensToChars(deps.config.kube.outputTokenBudget) * 0.7) / 100 / wanted.length),
  );
  const summary: Record<string, unknown>[] = [];
  for (const target of wanted) {
    const resource = await resolveReadable(deps, target.type, signal);
    const namespace = namespaceFor(command, resource);
    if (namespace) policy.assert(namespace);
    const label = `${resource.resource}${resource.group ? `.${resource.group}` : ""}`;
    const names = target.names.map((n) => checkName(n, `${resource.kind} name`));
    if (command.output === "yaml" || command.output === "json") {
      const objects: KubeObject[] = [];
      if (names.length > 0) {
        for (const name of names)
          objects.push(
            await deps.kube.get<KubeObject>(
              deps.kube.discovery.path(resource, namespace, name),
              undefined,
              signal,
            ),
          );
      } else {
        const list = await deps.kube.list<KubeObject>(deps.kube.discovery.path(resource, namespace), {
          labelSelector: command.selector,
          fieldSelector: command.fieldSelector,
          limit: Math.min(command.limit ?? 50, 200),
          signal,
        });
        objects.push(
          ...list.items.filter((o) => policy.allows(o.metadata?.namespace ?? "") || !resource.namespaced),
        );
        if (list.continue)
          out.line(
            `Showing the first ${list.items.length} ${label}; ${list.remainingItemCount ?? "more"} more not shown (use a selector or --limit).`,
          );
      }
      const text =
        command.output === "json"
          ? JSON.stringify(
              objects.map((o) => redactValue(stripNoise(o))),
              null,
              1,
            )
          : objects.map((o) => objectYaml(o)).join("---\n");
      out.line(`${plural(objects.length, resource.kind)}${namespace ? ` in namespace ${namespace}` : ""}:`);
      out.data(`kubectl get ${label}${namespace ? ` -n ${namespace}` : ""}`, text);
      summary.push({ resource: label, count: objects.length });
      continue;
    }
    // Server-side printing: the API server renders the same columns kubectl shows, for any type.
    const fetchTable = async (name?: string): Promise<KubeTable> =>
      deps.kube.request<KubeTable>(deps.kube.discovery.path(resource, namespace, name), {
        accept: TABLE_ACCEPT,
        query: name
          ? { includeObject: "Metadata" }
          : {
              includeObject: "Metadata",
              labelSelector: command.selector,
              fieldSelector: command.fieldSelector,
              limit: Math.min(command.limit ?? rowBudget, rowBudget),
            },
        signal,
      });
    let tables: KubeTable[];
    try {
      tables = names.length > 0 ? await Promise.all(names.map((n) => fetchTable(n))) : [await fetchTable()];
    } catch (error) {
      if (isKubeApiError(error, 404) && namespace && names.length === 0)
        await requireNamespace(deps, namespace, signal);
      if (isKubeApiError(error, 404) && names.length > 0) {
        throw new DeputyError(
          "NOT_FOUND",
          `${resource.kind} ${names.join(", ")} not found${namespace ? ` in namespace ${namespace}` : ""}`,
        );
      }
      if (isKubeApiError(error, 400))
        throw new DeputyError("INPUT_INVALID", `the API server refused the request: ${error.message}`);
      throw error;
    }
    const columns = (tables[0]?.columnDefinitions ?? [])
      .map((c, i) => ({ ...c, index: i }))
      .filter((c) => command.output === "wide" || (c.priority ?? 0) === 0);
    const rows = tables
      .flatMap((t) => t.rows ?? [])
      .filter((r) => !resource.namespaced || policy.allows(r.object?.metadata?.namespace ?? namespace ?? ""));
    const showNamespace = resource.namespaced && command.allNamespaces;
    const more =
      tables.length === 1 && tables[0]?.metadata?.continue
        ? (tables[0].metadata.remainingItemCount ?? "more")
        : undefined;
    if (command.output === "name") {
      out.line(
        rows
          .map((r) => `${resource.resource}/${r.object?.metadata?.name ?? String(r.cells[0])}`)
          .join("\n") || `No ${label} found.`,
      );
    } else if (rows.length === 0) {
      out.line(`No ${label} found${namespace ? ` in namespace ${namespace}` : ""}.`);
    } else {
      out.line(
        `${plural(rows.length, resource.kind)}${namespace ? ` in namespace ${namespace}` : command.allNamespaces ? " in all namespaces" : ""}${more !== undefined ? `; ${more} more not shown (narrow with -l or --field-selector)` : ""}:`,
      );
      const header = [
        ...(showNamespace ? ["NAMESPACE"] : []),
        ...columns.map((c) => c.name.toUpperCase()),
        ...(command.showLabels ? ["LABELS"] : []),
      ];
      const body = rows.map((r) => [
        ...(showNamespace ? [r.object?.metadata?.namespace ?? ""] : []),
        ...columns.map((c) => cell(r.cells[c.index])),
        ...(command.showLabels
          ? [
              Object.entries(r.object?.metadata?.labels ?? {})
                .map(([k, v]) => `${k}=${v}`)
                .join(","),
            ]
          : []),
      ]);
      out.data(`kubectl get ${label}${namespace ? ` -n ${namespace}` : ""}`, table(header, body));
    }
    summary.push({ resource: label, count: rows.length });
  }
  return out.result({ command: "get", results: summary });
}
