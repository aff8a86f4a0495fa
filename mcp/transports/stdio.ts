import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import type { McpDeps } from "../deps.ts";
import { createMcpServer } from "../server.ts";

/**
 * stdio transport, for Claude Desktop/Code or any local MCP client. stdout
 * carries the protocol, so logs must go to stderr (the caller's logger).
 */
export async function serveStdio(deps: McpDeps): Promise<{ close(): Promise<void> }> {
  const server = createMcpServer(deps);
  const transport = new StdioServerTransport();
  await server.connect(transport);
  return { close: () => server.close() };
}
