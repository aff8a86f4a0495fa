import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inSpan, startTracing } from "../../../core/observability/tracing.ts";
import { withTraceContext } from "../../../mcp/transports/trace-context.ts";
import { otlpEnv, startOtlpReceiver, type OtlpReceiver } from "../../helpers/otlp-receiver.ts";

/**
 * The client side of trace propagation over MCP, on the SDK's own linked
 * in-memory pair (local mode's transport; the bot wraps its HTTP transport the
 * same way): each request carries the active span in `_meta`, beside what the
 * caller put there; notifications and untraced requests are sent unchanged.
 */

let otlp: OtlpReceiver;

beforeAll(async () => {
  otlp = await startOtlpReceiver();
});

afterAll(async () => {
  await otlp?.close();
});

/** What the server end of a linked pair receives from a wrapped client end. */
async function linkedPair(): Promise<{ client: InMemoryTransport; received: JSONRPCMessage[] }> {
  const [client, server] = InMemoryTransport.createLinkedPair();
  const received: JSONRPCMessage[] = [];
  server.onmessage = (message) => void received.push(message);
  await server.start();
  return { client: withTraceContext(client), received };
}

const call: JSONRPCMessage = {
  jsonrpc: "2.0",
  id: 1,
  method: "tools/call",
  params: { name: "list_pods", arguments: {}, _meta: { "deputy/requester": { kind: "local", id: "alice" } } },
};
const notification: JSONRPCMessage = { jsonrpc: "2.0", method: "notifications/initialized" };

describe("withTraceContext", () => {
  it("adds nothing while tracing is off", async () => {
    const { client, received } = await linkedPair();
    await inSpan("caller", {}, () => client.send(call));
    expect(received).toEqual([call]);
  });

  it("puts the active span's traceparent into each request's _meta, keeping the caller's fields", async () => {
    const tracing = startTracing("deputy-test", otlpEnv(otlp, 60_000));
    const { client, received } = await linkedPair();
    let traceparent = "";
    try {
      await inSpan("caller", {}, async (span) => {
        const { traceId, spanId } = span.spanContext();
        traceparent = `00-${traceId}-${spanId}-01`;
        await client.send(call);
        await client.send(notification);
      });
      await client.send({ ...call, id: 2 });
    } finally {
      await tracing.shutdown();
    }
    const [traced, untouched, outside] = received as { params?: { _meta?: Record<string, unknown> } }[];
    expect(traced!.params!._meta).toEqual({
      "deputy/requester": { kind: "local", id: "alice" },
      traceparent,
    });
    expect(untouched).toEqual(notification);
    expect(outside).toEqual({ ...call, id: 2 });
  });
});
