import { z } from "zod";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { tokensToChars } from "../../../core/budget.ts";
import { DeputyError, describeError } from "../../../core/errors.ts";
import type { ApiResource } from "../../../core/kube/discovery.ts";
import { isKubeApiError } from "../../../core/kube/errors.ts";
import { validateName } from "../../../core/kube/names.ts";
import { formatCpu, formatMemory } from "../../../core/kube/quantity.ts";
import type { KubeObject, WireList } from "../../../core/kube/types.ts";
import { redactValue } from "../../../core/redact.ts";
import { defineTool, type ToolContext, type ToolDefinition } from "../../tool.ts";
import type { McpDeps } from "../../deps.ts";
import { plural, table } from "../../diagnose/format.ts";
import { nodeUsage } from "../../diagnose/node.ts";
import { checkLogs } from "./check-logs.ts";
import { describeDeployment } from "./describe-deployment.ts";
import { describePod } from "./describe-pod.ts";
import { getEvents } from "./get-events.ts";
import { getResource, isSecretKind, objectYaml, secretRefusal } from "./get-resource.ts";
import { listDeployments } from "./list-deployments.ts";
import { listPods } from "./list-pods.ts";
import { troubleshootNode } from "./troubleshoot-node.ts";
import { createOutput } from "./support/output.ts";
import { parseKubectl, type KubectlCommand } from "./support/kubectl-parse.ts";
import { podsOfWorkload } from "./support/pods.ts";
import { namespacePolicy, requireNamespace } from "./support/scope.ts";

const TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

interface KubeTable {
  kind?: string;
  columnDefinitions?: { name: string; priority?: number }[];
  rows?: {
    cells: unknown[];
    object?: { metadata?: { name?: string; namespace?: string; labels?: Record<string, string> } };
  }[];
  metadata?: { continue?: string; remainingItemCount?: number };
}

type Ctx = ToolContext<McpDeps>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each tool has its own argument shape
type AnyReadTool = ToolDefinition<McpDeps, any>;

/** Run another read tool with arguments validated by its own schema. */
async function delegate(
  tool: AnyReadTool,
  args: Record<string, unknown>,
  context: Ctx,
): Promise<CallToolResult> {
  const parsed = tool.inputSchema.safeParse(args);
  if (!parsed.success) {
    throw new DeputyError("INPUT_INVALID", parsed.error.issues.map((i) => i.message).join("; "));
  }
  return tool.handler(parsed.data, context);
}

function checkName(name: string, what: string): string {
  const problem = validateName(name, what);
  if (problem) throw new DeputyError("INPUT_INVALID", problem);
  return name;
}

/** "pods", "pod/x", "deploy x y", "pods,svc" → (type, names) pairs. */
function targets(args: string[]): { type: string; names: string[] }[] {
  const [first, ...rest] = args;
  if (!first)
    throw new DeputyError(
      "INPUT_INVALID",
      "which resource type? e.g. get pods, get deploy checkout, get svc/db",
    );
  if (first.includes("/")) {
    return args.map((arg) => {
      const [type, name, extra] = arg.split("/");
      if (!type || !name || extra !== undefined)
        throw new DeputyError("INPUT_INVALID", `"${arg}" is not TYPE/NAME`);
      return { type, names: [name] };
    });
  }
  return first
    .split(",")
    .filter(Boolean)
    .map((type) => ({ type, names: rest }));
}

async function resolveReadable(deps: McpDeps, type: string, signal: AbortSignal): Promise<ApiResource> {
  if (isSecretKind(type)) throw secretRefusal();
  const resource = await deps.kube.discovery.resolve(type, signal);
  if (resource.resource === "secrets" && resource.group === "") throw secretRefusal();
  return resource;
}

function namespaceFor(command: KubectlCommand, resource: ApiResource): string | undefined {
  if (!resource.namespaced || command.allNamespaces) return undefined;
  return command.namespace ?? "default";
}

async function get(command: KubectlCommand, context: Ctx): Promise<CallToolResult> {
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

function cell(value: unknown): string {
  if (value === null || value === undefined) return "<none>";
  if (typeof value === "string") return value.replace(/\s+/g, " ").slice(0, 200);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value).slice(0, 200);
}

function stripNoise(object: KubeObject): KubeObject {
  const copy = structuredClone(object);
  if (copy.metadata) {
    delete copy.metadata.managedFields;
    delete copy.metadata.annotations?.["kubectl.kubernetes.io/last-applied-configuration"];
  }
  return copy;
}

async function describe(command: KubectlCommand, context: Ctx): Promise<CallToolResult> {
  const wanted = targets(command.args);
  if (wanted.length !== 1 || wanted[0]!.names.length !== 1) {
    throw new DeputyError(
      "INPUT_INVALID",
      "describe needs exactly one TYPE and NAME, e.g. describe pod checkout-7d9f-x2x4q -n shop",
    );
  }
  const { type, names } = wanted[0]!;
  const name = names[0]!;
  const resource = await resolveReadable(context.deps, type, context.signal);
  const namespace = namespaceFor(command, resource) ?? command.namespace;
  if (resource.resource === "pods" && resource.group === "")
    return delegate(describePod, { namespace, pod: name }, context);
  if (resource.resource === "deployments" && resource.group === "apps")
    return delegate(describeDeployment, { namespace, name }, context);
  if (resource.resource === "nodes" && resource.group === "")
    return delegate(troubleshootNode, { name }, context);
  return delegate(
    getResource,
    { kind: type, name, namespace: resource.namespaced ? namespace : undefined },
    context,
  );
}

async function logs(command: KubectlCommand, context: Ctx): Promise<CallToolResult> {
  const [target] = command.args;
  if (!target)
    throw new DeputyError("INPUT_INVALID", "logs needs a pod name, e.g. logs checkout-7d9f-x2x4q -n shop");
  const namespace = command.namespace ?? "default";
  let pod = target;
  if (target.includes("/")) {
    const [type, name] = target.split("/") as [string, string | undefined];
    if (!name) throw new DeputyError("INPUT_INVALID", `"${target}" is not TYPE/NAME`);
    if (/^(po|pod|pods)$/.test(type)) pod = name;
    else {
      namespacePolicy(context.deps).assert(namespace);
      checkName(name, "workload name");
      const workload = await podsOfWorkload(context.deps, namespace, name, context.signal);
      const first = workload?.pods[0]?.metadata?.name;
      if (!first) throw new DeputyError("NOT_FOUND", `no pods found for ${target} in namespace ${namespace}`);
      pod = first;
    }
  }
  return delegate(
    checkLogs,
    {
      namespace,
      pod,
      container: command.container,
      tailLines: command.tail ?? 100,
      sinceSeconds: command.sinceSeconds,
      previous: command.previous,
      timestamps: command.timestamps,
    },
    context,
  );
}

async function events(command: KubectlCommand, context: Ctx): Promise<CallToolResult> {
  let kind: string | undefined;
  let name: string | undefined;
  if (command.forObject) {
    const [type, objectName] = command.forObject.split("/");
    if (!type || !objectName)
      throw new DeputyError("INPUT_INVALID", `--for "${command.forObject}" must be TYPE/NAME`);
    kind = (await context.deps.kube.discovery.resolve(type, context.signal)).kind;
    name = objectName;
  }
  const type =
    command.types === undefined
      ? "all"
      : command.types === "Warning" || command.types === "Normal"
        ? command.types
        : undefined;
  if (type === undefined)
    throw new DeputyError("INPUT_INVALID", `--types "${command.types}" must be Warning or Normal`);
  return delegate(
    getEvents,
    {
      namespace: command.allNamespaces ? undefined : (command.namespace ?? "default"),
      kind,
      name,
      type,
      limit: Math.min(command.limit ?? 40, 200),
    },
    context,
  );
}

async function top(command: KubectlCommand, context: Ctx): Promise<CallToolResult> {
  const { deps, signal } = context;
  const sub = command.sub;
  if (sub !== "node" && sub !== "nodes" && sub !== "pod" && sub !== "pods" && sub !== "no" && sub !== "po") {
    throw new DeputyError("INPUT_INVALID", "top needs node or pod, e.g. top pod -n shop");
  }
  const nodes = sub.startsWith("n");
  const namespace = nodes || command.allNamespaces ? undefined : (command.namespace ?? "default");
  if (namespace) namespacePolicy(deps).assert(namespace);
  const out = createOutput(deps.config.kube.outputTokenBudget);
  const path = `/apis/metrics.k8s.io/v1beta1${namespace ? `/namespaces/${encodeURIComponent(namespace)}` : ""}/${nodes ? "nodes" : "pods"}`;
  type Usage = {
    metadata?: { name?: string; namespace?: string };
    usage?: Record<string, string>;
    containers?: { usage?: Record<string, string> }[];
  };
  try {
    const metrics = await deps.kube.get<WireList<Usage>>(path, { labelSelector: command.selector }, signal);
    const policy = namespacePolicy(deps);
    const items = metrics.items.filter((m) => nodes || policy.allows(m.metadata?.namespace ?? ""));
    out.line(`Live usage from metrics.k8s.io (${plural(items.length, nodes ? "node" : "pod")}):`);
    out.line(
      table(
        [...(nodes ? [] : ["NAMESPACE"]), "NAME", "CPU", "MEMORY"],
        items.map((m) => {
          const usage = nodes ? (m.usage ?? {}) : sumUsage(m.containers ?? []);
          return [
            ...(nodes ? [] : [m.metadata?.namespace ?? ""]),
            m.metadata?.name ?? "",
            usage.cpu ?? "?",
            usage.memory ?? "?",
          ];
        }),
      ),
    );
    return out.result({ command: "top", source: "metrics", count: items.length });
  } catch (error) {
    out.line(
      `Live usage is not available: the metrics API answered "${describeError(error).slice(0, 200)}" (metrics-server missing, or not permitted for the read identity).`,
    );
  }
  // Without metrics, requests against allocatable still say how full things are.
  if (nodes) {
    const [nodeList, pods] = await Promise.all([
      deps.kube.core.listNodes({ maxItems: 2000, signal }),
      deps.kube.core.listPods(undefined, { maxItems: 20_000, signal }),
    ]);
    out.line("Requests vs allocatable instead:");
    out.line(
      table(
        ["NAME", "CPU REQ", "CPU ALLOC", "MEM REQ", "MEM ALLOC", "PODS"],
        nodeList.items.map((node) => {
          const usage = nodeUsage(
            node,
            pods.items.filter((p) => p.spec?.nodeName === node.metadata?.name),
          );
          return [
            node.metadata?.name ?? "",
            formatCpu(usage.cpuRequests),
            formatCpu(usage.cpuAllocatable),
            formatMemory(usage.memoryRequests),
            formatMemory(usage.memoryAllocatable),
            String(usage.pods),
          ];
        }),
      ),
    );
  } else {
    const pods = await deps.kube.core.listPods(namespace, {
      labelSelector: command.selector,
      maxItems: 500,
      signal,
    });
    out.line("Requests and limits instead:");
    out.line(
      table(
        ["NAME", "CPU REQ", "CPU LIM", "MEM REQ", "MEM LIM"],
        pods.items.slice(0, 100).map((pod) => {
          const usage = nodeUsage({}, [pod]);
          return [
            pod.metadata?.name ?? "",
            formatCpu(usage.cpuRequests),
            formatCpu(usage.cpuLimits),
            formatMemory(usage.memoryRequests),
            formatMemory(usage.memoryLimits),
          ];
        }),
      ),
    );
  }
  return out.result({ command: "top", source: "requests" });
}

function sumUsage(containers: { usage?: Record<string, string> }[]): Record<string, string> {
  return containers[0]?.usage ?? {};
}

async function apiResources(context: Ctx): Promise<CallToolResult> {
  const all = await context.deps.kube.discovery.resources(context.signal);
  const preferred = all.filter((r) => r.preferred && r.resource !== "secrets");
  const out = createOutput(context.deps.config.kube.outputTokenBudget);
  out.line(`${plural(preferred.length, "resource type")} served (Secrets omitted: Deputy never reads them):`);
  out.line(
    table(
      ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"],
      preferred
        .sort((a, b) => a.resource.localeCompare(b.resource))
        .map((r) => [
          r.resource,
          r.shortNames.join(","),
          r.group ? `${r.group}/${r.version}` : r.version,
          String(r.namespaced),
          r.kind,
        ]),
    ),
  );
  return out.result({ command: "api-resources", count: preferred.length });
}

async function auth(command: KubectlCommand, context: Ctx): Promise<CallToolResult> {
  const { deps, signal } = context;
  const out = createOutput(deps.config.kube.outputTokenBudget);
  if (command.sub === "whoami") {
    const review = await deps.kube.request<{
      status?: { userInfo?: { username?: string; groups?: string[] } };
    }>("/apis/authentication.k8s.io/v1/selfsubjectreviews", {
      method: "POST",
      body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
      signal,
    });
    out.line(
      `Deputy's read identity: ${review.status?.userInfo?.username ?? "?"} (groups: ${(review.status?.userInfo?.groups ?? []).join(", ")}).`,
    );
    return out.result({ command: "auth whoami", username: review.status?.userInfo?.username });
  }
  if (command.sub !== "can-i") throw new DeputyError("INPUT_INVALID", "auth supports can-i and whoami");
  const [verb, target] = command.args;
  if (!verb || !target)
    throw new DeputyError(
      "INPUT_INVALID",
      "auth can-i needs VERB and RESOURCE, e.g. auth can-i delete pods -n shop",
    );
  const [type, name] = target.split("/");
  const resource = await context.deps.kube.discovery.resolve(type!, signal);
  const namespace =
    resource.namespaced && !command.allNamespaces ? (command.namespace ?? "default") : undefined;
  const review = await deps.kube.request<{ status?: { allowed?: boolean; reason?: string } }>(
    "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
    {
      method: "POST",
      body: {
        apiVersion: "authorization.k8s.io/v1",
        kind: "SelfSubjectAccessReview",
        spec: {
          resourceAttributes: { verb, group: resource.group, resource: resource.resource, name, namespace },
        },
      },
      signal,
    },
  );
  const allowed = review.status?.allowed === true;
  out.line(
    `${allowed ? "yes" : "no"} — Deputy's read identity ${allowed ? "may" : "may not"} ${verb} ${resource.resource}${name ? `/${name}` : ""}${namespace ? ` in namespace ${namespace}` : ""}.${allowed ? "" : " Cluster changes go through write tools and human approval, with a separate just-in-time credential."}`,
  );
  return out.result({
    command: "auth can-i",
    allowed,
    verb,
    resource: resource.resource,
    namespace: namespace ?? null,
  });
}

interface OpenApiSchema {
  description?: string;
  type?: string;
  properties?: Record<string, OpenApiSchema>;
  items?: OpenApiSchema;
  $ref?: string;
  allOf?: OpenApiSchema[];
  "x-kubernetes-group-version-kind"?: { group: string; version: string; kind: string }[];
}

async function explain(command: KubectlCommand, context: Ctx): Promise<CallToolResult> {
  const { deps, signal } = context;
  const [target] = command.args;
  if (!target)
    throw new DeputyError("INPUT_INVALID", "explain needs a type, e.g. explain deployment.spec.strategy");
  const [type, ...fieldPath] = target.split(".");
  const resource = await deps.kube.discovery.resolve(type!, signal);
  const gv = resource.group ? `apis/${resource.group}/${resource.version}` : `api/${resource.version}`;
  const doc = await deps.kube.get<{ components?: { schemas?: Record<string, OpenApiSchema> } }>(
    `/openapi/v3/${gv}`,
    undefined,
    signal,
  );
  const schemas = doc.components?.schemas ?? {};
  const deref = (s: OpenApiSchema | undefined): OpenApiSchema | undefined => {
    let current = s;
    for (let i = 0; i < 5 && current; i++) {
      const ref = current.$ref ?? current.allOf?.[0]?.$ref;
      if (!ref) break;
      current = {
        ...schemas[ref.replace("#/components/schemas/", "")],
        description: current.description ?? schemas[ref.replace("#/components/schemas/", "")]?.description,
      };
    }
    return current;
  };
  let schema = Object.values(schemas).find((s) =>
    s["x-kubernetes-group-version-kind"]?.some(
      (g) => g.kind === resource.kind && g.group === resource.group && g.version === resource.version,
    ),
  );
  const path = [resource.kind];
  for (const field of fieldPath) {
    const next = deref(schema)?.properties?.[field];
    if (!next) throw new DeputyError("INPUT_INVALID", `field "${field}" does not exist in ${path.join(".")}`);
    path.push(field);
    schema = deref(
      next.type === "array" && next.items ? { ...next.items, description: next.description } : next,
    );
  }
  const resolved = deref(schema);
  if (!resolved) throw new DeputyError("NOT_FOUND", `no schema published for ${resource.kind}`);
  const lines = [
    `KIND: ${resource.kind}`,
    `VERSION: ${resource.group ? `${resource.group}/` : ""}${resource.version}`,
    `FIELD: ${path.join(".")} <${resolved.type ?? "Object"}>`,
    "",
    "DESCRIPTION:",
    `  ${resolved.description ?? ""}`,
  ];
  const props = Object.entries(resolved.properties ?? {});
  if (props.length > 0) {
    lines.push("", "FIELDS:");
    for (const [name, prop] of props) {
      const p = deref(prop);
      lines.push(
        `  ${name} <${prop.type ?? p?.type ?? "Object"}>`,
        `    ${(prop.description ?? p?.description ?? "").split("\n")[0]?.slice(0, 200) ?? ""}`,
      );
    }
  }
  const out = createOutput(deps.config.kube.outputTokenBudget);
  out.line(lines.join("\n"));
  return out.result({ command: "explain", kind: resource.kind, field: path.join(".") });
}

async function version(context: Ctx, withServer: boolean): Promise<CallToolResult> {
  const v = await context.deps.kube.get<{ gitVersion?: string; platform?: string }>(
    "/version",
    undefined,
    context.signal,
  );
  const out = createOutput(context.deps.config.kube.outputTokenBudget);
  out.line(
    `Server Version: ${v.gitVersion ?? "?"} (${v.platform ?? "?"})${withServer ? `\nKubernetes control plane is running at ${context.deps.kube.server}` : ""}`,
  );
  return out.result({ serverVersion: v.gitVersion });
}

const inputSchema = z.object({
  command: z
    .string()
    .min(1)
    .max(1000)
    .describe('e.g. "get svc -n shop -o wide", "top pods -n shop", "auth can-i delete pods -n shop"'),
});

export const kubectl = defineTool<McpDeps, typeof inputSchema.shape>({
  name: "kubectl",
  title: "Read-only kubectl",
  description:
    "A read-only kubectl command line for what the other tools miss: get, describe, logs, top, events, explain, api-resources, auth can-i, version; -n -A -l -o wide|yaml|json|name. Write verbs are refused and name the write tool to use; Secrets are never shown.",
  inputSchema,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler(args, context) {
    const command = parseKubectl(args.command);
    if (command.namespace !== undefined) {
      const problem = validateName(command.namespace, "namespace");
      if (problem) throw new DeputyError("INPUT_INVALID", problem);
    }
    switch (command.verb) {
      case "get":
        return get(command, context);
      case "describe":
        return describe(command, context);
      case "logs":
        return logs(command, context);
      case "events":
        return events(command, context);
      case "top":
        return top(command, context);
      case "api-resources":
        return apiResources(context);
      case "auth":
        return auth(command, context);
      case "explain":
        return explain(command, context);
      case "version":
        return version(context, false);
      case "cluster-info":
        return version(context, true);
    }
  },
});
