import { type Ctx } from "./shared.ts";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { plural, table } from "../../../diagnose/format.ts";
import { createOutput } from "../support/output.ts";

export async function apiResources(context: Ctx): Promise<CallToolResult> {
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
