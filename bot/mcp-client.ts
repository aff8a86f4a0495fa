import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { signingFetch, type CallerClaims } from "../core/identity/caller-auth.ts";
import { conversationSchema, identitySchema } from "../core/identity/identity.ts";
import { withTraceContext } from "../mcp/transports/trace-context.ts";

/**
 * The bot's MCP client over Streamable HTTP. Every request is signed with the
 * mcpCaller key; every request that carries a caller in `_meta` (a tools/call,
 * a resources/read, any kind) names, in the signed claims, the requester and
 * conversation that `_meta` carries, so the server believes exactly what the
 * bot vouched for and nothing a stranger wrote, and scopes every request kind
 * by that conversation.
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
  if (!meta) return undefined;
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
