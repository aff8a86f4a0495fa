import { type Ctx } from "./shared.ts";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { createOutput } from "../support/output.ts";

export async function version(context: Ctx, withServer: boolean): Promise<CallToolResult> {
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
