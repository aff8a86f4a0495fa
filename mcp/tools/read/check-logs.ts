import { z } from "zod";
import { formatBytes } from "../../../core/untrusted/output-budget.ts";
import { DeputyError } from "../../../core/errors.ts";
import { isKubeApiError } from "../../../core/kube/errors.ts";
import { defineTool } from "../../tool.ts";
import type { McpDeps } from "../../deps.ts";
import { plural } from "../../diagnose/format.ts";
import { containerArg, namespaceArg, podArg } from "./support/args.ts";
import { createOutput } from "./support/output.ts";
import { chooseContainer, readPodClearly } from "./support/pods.ts";
import { namespacePolicy } from "./support/scope.ts";

/** A filtered scan reads at most this much of a log. */
const MAX_SCAN_BYTES = 512 * 1024 * 1024;

const inputSchema = z.object({
  namespace: namespaceArg,
  pod: podArg,
  container: containerArg,
  tailLines: z.number().int().min(1).max(2000).default(100).describe("lines from the end"),
  grep: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe("only lines containing this text (case-insensitive; a|b for either)"),
  sinceSeconds: z
    .number()
    .int()
    .min(1)
    .max(30 * 86400)
    .optional()
    .describe("only the last N seconds"),
  previous: z.boolean().default(false).describe("the previous (crashed) run"),
  timestamps: z.boolean().default(false),
});

/** Literal, case-insensitive alternatives: no user regex, so no catastrophic backtracking. */
export function grepPattern(grep: string): RegExp {
  const alternatives = grep
    .split("|")
    .map((a) => a.trim())
    .filter((a) => a.length > 0)
    .map((a) => a.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  if (alternatives.length === 0)
    throw new DeputyError("INPUT_INVALID", `grep "${grep}" has no text to search for`);
  return new RegExp(alternatives.join("|"), "i");
}

export const checkLogs = defineTool<McpDeps, typeof inputSchema.shape>({
  name: "check_logs",
  title: "Read a container log",
  description:
    "The end of a container log, optionally filtered by grep or sinceSeconds; previous=true for the crashed run. Any log size; what is cut is stated.",
  inputSchema,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler(args, { deps, signal }) {
    namespacePolicy(deps).assert(args.namespace);
    const grep = args.grep === undefined ? undefined : grepPattern(args.grep);
    const pod = await readPodClearly(deps, args.namespace, args.pod, signal);
    const container = chooseContainer(pod, args.container);
    const ref = `${args.namespace}/${args.pod}/${container.name}`;
    let tail;
    try {
      tail = await deps.kube.logs.tail(args.namespace, args.pod, {
        container: container.name,
        tailLines: args.tailLines,
        sinceSeconds: args.sinceSeconds,
        previous: args.previous,
        timestamps: args.timestamps,
        grep,
        maxScanBytes: grep ? MAX_SCAN_BYTES : undefined,
        signal,
      });
    } catch (error) {
      if (isKubeApiError(error, 400)) {
        throw new DeputyError(
          "INPUT_INVALID",
          `no ${args.previous ? "previous " : ""}log for ${ref}: ${error.message}${args.previous ? " (the container may not have restarted)" : ""}`,
          { cause: error },
        );
      }
      throw error;
    }
    const out = createOutput(deps.config.kube.outputTokenBudget);
    const what = args.previous ? "previous run" : "current run";
    if (container.note) out.line(`Note: ${container.note}.`);
    if (grep) {
      out.line(
        `${plural(tail.matchedLines, "line")} of ${tail.scannedLines.toLocaleString("en-US")} (${formatBytes(tail.scannedBytes)}) in ${ref} (${what}) match "${args.grep}"; showing the last ${tail.lines.length}${tail.stoppedEarly ? `; stopped after scanning ${formatBytes(MAX_SCAN_BYTES)}` : ""}.`,
      );
    } else {
      out.line(
        `Last ${plural(tail.lines.length, "line")} of ${ref} (${what}${args.sinceSeconds ? `, last ${args.sinceSeconds}s` : ""}).`,
      );
    }
    if (tail.clippedLines > 0)
      out.line(`${plural(tail.clippedLines, "line")} longer than 2,000 characters clipped.`);
    if (tail.lines.length === 0) out.line("The log is empty.");
    else out.data(`pod-log ${ref}${args.previous ? " (previous)" : ""}`, tail.lines.join("\n"), "tail");
    return out.result({
      namespace: args.namespace,
      pod: args.pod,
      container: container.name,
      previous: args.previous,
      lines: tail.lines.length,
      scannedLines: tail.scannedLines,
      scannedBytes: tail.scannedBytes,
      matchedLines: grep ? tail.matchedLines : undefined,
    });
  },
});
