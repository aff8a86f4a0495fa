import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { McpDeps } from "../deps.ts";
import { createMcpServer, type McpServerOptions } from "../server.ts";
import { withTraceContext } from "./trace-context.ts";

/**
 * Single-process mode: the bot (or a test, or the benchmark) talks to the MCP
 * server through a linked in-memory transport pair — the same protocol, no
 * sockets, and the same trace context in each request's `_meta`.
 */
export interface InMemoryConnection {
  client: Client;
  close(): Promise<void>;
}

export async function connectInMemory(
  deps: McpDeps,
  options: McpServerOptions & { clientName?: string } = {},
): Promise<InMemoryConnection> {
  const server = createMcpServer(deps, options);
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  const client = new Client({ name: options.clientName ?? "deputy-in-process", version: "0.1.0" });
  await server.connect(serverTransport);
  await client.connect(withTraceContext(clientTransport));
  return {
    client,
    async close() {
      await client.close();
      await server.close();
    },
  };
}
