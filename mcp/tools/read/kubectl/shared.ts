import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { DeputyError } from "../../../../core/errors.ts";
import type { ApiResource } from "../../../../core/kube/discovery.ts";
import { validateName } from "../../../../core/kube/names.ts";
import type { KubeObject } from "../../../../core/kube/types.ts";
import { type ToolContext, type ToolDefinition } from "../../../tool.ts";
import type { McpDeps } from "../../../deps.ts";
import { isSecretKind, secretRefusal } from "../get-resource.ts";
import { type KubectlCommand } from "./parse.ts";

export const TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

export interface KubeTable {
  kind?: string;
  columnDefinitions?: { name: string; priority?: number }[];
  rows?: {
    cells: unknown[];
    object?: { metadata?: { name?: string; namespace?: string; labels?: Record<string, string> } };
  }[];
  metadata?: { continue?: string; remainingItemCount?: number };
}

export type Ctx = ToolContext<McpDeps>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each tool has its own argument shape
export type AnyReadTool = ToolDefinition<McpDeps, any>;

/** Run another read tool with arguments validated by its own schema. */
export async function delegate(
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

export function checkName(name: string, what: string): string {
  const problem = validateName(name, what);
  if (problem) throw new DeputyError("INPUT_INVALID", problem);
  return name;
}

/** "pods", "pod/x", "deploy x y", "pods,svc" → (type, names) pairs. */
export function targets(args: string[]): { type: string; names: string[] }[] {
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

export async function resolveReadable(
  deps: McpDeps,
  type: string,
  signal: AbortSignal,
): Promise<ApiResource> {
  if (isSecretKind(type)) throw secretRefusal();
  const resource = await deps.kube.discovery.resolve(type, signal);
  if (resource.resource === "secrets" && resource.group === "") throw secretRefusal();
  return resource;
}

export function namespaceFor(command: KubectlCommand, resource: ApiResource): string | undefined {
  if (!resource.namespaced || command.allNamespaces) return undefined;
  return command.namespace ?? "default";
}

export function cell(value: unknown): string {
  if (value === null || value === undefined) return "<none>";
  if (typeof value === "string") return value.replace(/\s+/g, " ").slice(0, 200);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value).slice(0, 200);
}

export function stripNoise(object: KubeObject): KubeObject {
  const copy = structuredClone(object);
  if (copy.metadata) {
    delete copy.metadata.managedFields;
    delete copy.metadata.annotations?.["kubectl.kubernetes.io/last-applied-configuration"];
  }
  return copy;
}
