import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { injectTraceContext } from "../../core/observability/tracing.ts";

/**
 * A client transport whose every request carries the active trace in its
 * `_meta` (`traceparent`, `tracestate`), where the MCP server picks it up
 * (mcp/server.ts). Over HTTP the bot signs it with the rest of the body; in
 * memory it is the same message. Nothing is added while tracing is off.
 */
export function withTraceContext<T extends Transport>(transport: T): T {
  const send = transport.send.bind(transport);
  transport.send = (message, options) => {
    const trace = "method" in message && "id" in message ? injectTraceContext() : {};
    if (trace.traceparent === undefined) return send(message, options);
    const request = message as { params?: { _meta?: Record<string, unknown> } };
    const params = request.params ?? {};
    return send(
      { ...message, params: { ...params, _meta: { ...params._meta, ...trace } } } as JSONRPCMessage,
      options,
    );
  };
  return transport;
}
