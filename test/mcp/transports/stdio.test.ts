import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { describe, expect, it } from "vitest";
import { loadTestEnv } from "../../helpers/testenv.ts";

/** `deputy mcp --stdio` as Claude Desktop/Code would start it: a kubeconfig, stdin/stdout. */
const ROOT = join(import.meta.dirname, "../../..");

describe("deputy mcp --stdio", () => {
  it("speaks MCP on stdout and keeps logs and audit lines off it", async () => {
    const env = loadTestEnv();
    const transport = new StdioClientTransport({
      command: join(ROOT, "node_modules/.bin/node"),
      args: [join(ROOT, "cli/deputy.ts"), "mcp", "--stdio"],
      env: {
        PATH: process.env.PATH ?? "",
        KUBECONFIG: env.kubeconfig,
        REDIS_URL: env.redisUrl,
        DEPUTY_REDIS_PREFIX: `deputy-test-stdio-${randomBytes(4).toString("hex")}:`,
        LOG_LEVEL: "info",
      },
      stderr: "pipe",
    });
    let stderr = "";
    transport.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const client = new Client({ name: "stdio-test", version: "1.0.0" });
    await client.connect(transport);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toEqual(
        expect.arrayContaining(["list_pods", "troubleshoot_pod", "kubectl"]),
      );
      const result = (await client.callTool({ name: "list_namespaces", arguments: {} })) as CallToolResult;
      expect(result.isError).toBeFalsy();
      expect(result.content[0]?.type === "text" && result.content[0].text).toMatch(/^shop\s+Active/m);
    } finally {
      await client.close();
    }
    // The audit line for the call went to stderr, not into the protocol stream.
    expect(stderr).toContain('"tool":"list_namespaces"');
  });
});
