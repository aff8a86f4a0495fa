import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  ListResourceTemplatesRequestSchema,
  ReadResourceRequestSchema,
  type ReadResourceResult,
} from "@modelcontextprotocol/sdk/types.js";
import { DeputyError, describeError } from "../../core/errors.ts";
import { redactText } from "../../core/untrusted/redact.ts";
import { accessOf } from "../request-gate.ts";
import { chooseContainer, readPodClearly } from "../tools/read/support/pods.ts";
import { namespacePolicy } from "../tools/read/support/scope.ts";

/**
 * A container's log as a file, for people: `deputy://pod-log/{namespace}/{pod}/{container}`
 * (`?previous=true` for the crashed run). A resource, not a tool, because the
 * model never reads it: the bot uploads it into the thread. It is read with
 * the read identity under the same namespace policy as check_logs, bounded
 * (the last MAX_LINES lines, at most MAX_BYTES) and redacted, and every read
 * is audited.
 */
export const POD_LOG_SCHEME = "deputy://pod-log/";
export const MAX_LINES = 50_000;
/** Lines arrive clipped at 2,000 characters; 2 MiB keeps redaction to well under a second or two. */
export const MAX_BYTES = 2 * 1024 * 1024;

const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export function podLogUri(ref: {
  namespace: string;
  pod: string;
  container: string;
  previous?: boolean;
}): string {
  return `${POD_LOG_SCHEME}${ref.namespace}/${ref.pod}/${ref.container}${ref.previous ? "?previous=true" : ""}`;
}

export function parsePodLogUri(uri: string): {
  namespace: string;
  pod: string;
  container: string;
  previous: boolean;
} {
  const url = URL.canParse(uri) ? new URL(uri) : undefined;
  const parts =
    url && url.protocol === "deputy:" && url.host === "pod-log" ? url.pathname.split("/").slice(1) : [];
  const [namespace, pod, container] = parts;
  if (parts.length !== 3 || ![namespace, pod, container].every((part) => part && NAME.test(part))) {
    throw new DeputyError(
      "INPUT_INVALID",
      `${uri} is not a pod log address (deputy://pod-log/<namespace>/<pod>/<container>)`,
    );
  }
  return {
    namespace: namespace!,
    pod: pod!,
    container: container!,
    previous: url?.searchParams.get("previous") === "true",
  };
}

/**
 * Keep the newest lines that fit in MAX_LINES and MAX_BYTES; say whether older
 * lines were left out (`more`: the read returned more lines than are kept).
 */
export function boundLog(lines: readonly string[]): { text: string; header: string } {
  const kept: string[] = [];
  let bytes = 0;
  for (let i = lines.length - 1; i >= 0 && kept.length < MAX_LINES; i--) {
    const size = Buffer.byteLength(lines[i]!, "utf8") + 1;
    if (bytes + size > MAX_BYTES) break;
    bytes += size;
    kept.push(lines[i]!);
  }
  kept.reverse();
  const header =
    kept.length < lines.length
      ? `# Deputy: the last ${kept.length.toLocaleString("en-US")} lines (older lines left out); secrets redacted.`
      : `# Deputy: the whole log, ${kept.length.toLocaleString("en-US")} lines; secrets redacted.`;
  return { text: redactText(kept.join("\n")), header };
}

/**
 * Caller and channel scope come from the request gate (mcp/request-gate.ts),
 * exactly as for tools/call: the log of a namespace outside the
 * conversation's scope is refused like check_logs refuses it.
 */
export function registerPodLogResource(server: Server): void {
  server.registerCapabilities({ resources: {} });
  server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({
    resourceTemplates: [
      {
        uriTemplate: `${POD_LOG_SCHEME}{namespace}/{pod}/{container}{?previous}`,
        name: "pod-log",
        title: "A container's log as a file",
        description: `The last ${MAX_LINES} lines (at most ${MAX_BYTES} bytes) of a container log, secrets redacted.`,
        mimeType: "text/plain",
      },
    ],
  }));
  server.setRequestHandler(ReadResourceRequestSchema, async (request, extra): Promise<ReadResourceResult> => {
    const started = performance.now();
    const uri = request.params.uri;
    const { caller, deps } = accessOf(extra);
    const audit = (outcome: "ok" | "error", details: Record<string, unknown>, message?: string): void => {
      deps.audit.record({
        kind: "tool_call",
        tool: "resource:pod-log",
        arguments: { uri },
        actor: caller.requester,
        conversation: caller.conversation,
        outcome,
        durationMs: Math.round(performance.now() - started),
        cluster: deps.config.kube.clusterName,
        details,
        ...(message ? { message: message.slice(0, 500) } : {}),
      });
    };
    try {
      const ref = parsePodLogUri(uri);
      namespacePolicy(deps).assert(ref.namespace);
      const pod = await readPodClearly(deps, ref.namespace, ref.pod, extra.signal);
      const container = chooseContainer(pod, ref.container);
      const tail = await deps.kube.logs.tail(ref.namespace, ref.pod, {
        container: container.name,
        // One line more than is kept: its presence says older lines exist.
        tailLines: MAX_LINES + 1,
        previous: ref.previous,
        signal: extra.signal,
      });
      const bounded = boundLog(tail.lines);
      audit("ok", { lines: tail.lines.length, bytes: Buffer.byteLength(bounded.text, "utf8") });
      return {
        contents: [{ uri, mimeType: "text/plain", text: `${bounded.header}\n${bounded.text}\n` }],
      };
    } catch (error) {
      audit("error", {}, describeError(error));
      throw error instanceof DeputyError ? new Error(describeError(error)) : error;
    }
  });
}
