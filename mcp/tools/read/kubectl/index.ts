import { z } from "zod";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { DeputyError } from "../../../../core/errors.ts";
import { validateName } from "../../../../core/kube/names.ts";
import type { McpDeps } from "../../../deps.ts";
import { defineTool } from "../../../tool.ts";
import { apiResources } from "./api-resources.ts";
import { auth } from "./auth.ts";
import { describe } from "./describe.ts";
import { events } from "./events.ts";
import { explain } from "./explain.ts";
import { get } from "./get.ts";
import { logs } from "./logs.ts";
import { parseKubectl, type KubectlCommand } from "./parse.ts";
import type { Ctx } from "./shared.ts";
import { top } from "./top.ts";
import { version } from "./version.ts";

/**
 * The read-only kubectl: the command line is parsed (write verbs refused
 * with the write tool to use), then each verb is a file of its own that
 * reads through Deputy's client, never a kubectl binary.
 */
const verbs: Record<
  KubectlCommand["verb"],
  (command: KubectlCommand, context: Ctx) => Promise<CallToolResult>
> = {
  get,
  describe,
  logs,
  events,
  top,
  "api-resources": (_command, context) => apiResources(context),
  auth,
  explain,
  version: (_command, context) => version(context, false),
  "cluster-info": (_command, context) => version(context, true),
};

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
    return verbs[command.verb](command, context);
  },
});
