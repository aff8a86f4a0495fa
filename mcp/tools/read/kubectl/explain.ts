import { type Ctx } from "./shared.ts";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { DeputyError } from "../../../../core/errors.ts";
import { createOutput } from "../support/output.ts";
import { type KubectlCommand } from "./parse.ts";

interface OpenApiSchema {
  description?: string;
  type?: string;
  properties?: Record<string, OpenApiSchema>;
  items?: OpenApiSchema;
  $ref?: string;
  allOf?: OpenApiSchema[];
  "x-kubernetes-group-version-kind"?: { group: string; version: string; kind: string }[];
}

export async function explain(command: KubectlCommand, context: Ctx): Promise<CallToolResult> {
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
