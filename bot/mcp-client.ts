import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { signingFetch, type CallerClaims } from "../core/caller-auth.ts";
import { conversationSchema, identitySchema } from "../core/identity.ts";
import { injectTraceContext } from "../core/tracing.ts";

/**
 * The bot's MCP client over Streamable HTTP. Every request is signed with the
 * mcpCaller key; a tools/call names, in the signed claims, the requester and
 * conversation its own `_meta` carries, so the server believes exactly what
 * the bot vouched for and nothing a stranger wrote.
 */
export function mcpClaimsOf(body: string): CallerClaims | undefined {
  let message: unknown;
  try {
    message = JSON.parse(body);
  } catch {
    return undefined;
  }
  const meta = (message as { method?: unknown; params?: { _meta?: Record<string, unknown> } } | null)?.params
    ?._meta;
  if ((message as { method?: unknown } | null)?.method !== "tools/call" || !meta) return undefined;
  const requester = identitySchema.safeParse(meta["deputy/requester"]);
  const conversation = conversationSchema.safeParse(meta["deputy/conversation"]);
  return {
    ...(requester.success ? { requester: requester.data } : {}),
    ...(conversation.success ? { conversation: conversation.data } : {}),
  };
}

export async function connectMcpOverHttp(url: string, key: Buffer): Promise<Client> {
  const client = new Client({ name: "deputy-bot", version: "0.1.0" });
  await client.connect(
    withTraceContext(
      new StreamableHTTPClientTransport(new URL(url), {
        fetch: signingFetch({ key, purpose: "mcp", claimsOf: mcpClaimsOf }),
      }),
    ),
  );
  return client;
}

/**
 * Every request carries the active trace in its `_meta` (`traceparent`,
 * `tracestate`), where the MCP server picks it up; signed with the rest of
 * the body. Nothing is added while tracing is off.
 */
function withTraceContext(transport: StreamableHTTPClientTransport): StreamableHTTPClientTransport {
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
