import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { loadTestEnv, seedCluster } from "../../helpers/testenv.ts";

/** `deputy mcp --http` as a process: MCP on /mcp, and its metrics on their own port. */
const ROOT = join(import.meta.dirname, "../../..");
let child: ChildProcess;
let mcpUrl = "";
let metricsUrl = "";

beforeAll(async () => {
  await seedCluster();
  const env = loadTestEnv();
  child = spawn(
    join(ROOT, "node_modules/.bin/node"),
    [join(ROOT, "cli/deputy.ts"), "mcp", "--http", "--port", "0"],
    {
      env: {
        PATH: process.env.PATH,
        KUBECONFIG: env.kubeconfig,
        REDIS_URL: env.redisUrl,
        DEPUTY_METRICS_PORT: "0",
        LOG_LEVEL: "silent",
      },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let stderr = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`deputy mcp did not start: ${stderr}`)), 30_000);
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /serving (\S+) .*metrics at (\S+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        mcpUrl = match[1]!;
        metricsUrl = match[2]!;
        resolve();
      }
    });
    child.once("exit", (code) => reject(new Error(`deputy mcp exited ${code}: ${stderr}`)));
  });
}, 60_000);

afterAll(() => {
  child?.kill("SIGTERM");
});

describe("deputy mcp --http", () => {
  it("answers MCP tool calls and counts them in its Prometheus metrics", async () => {
    const client = new Client({ name: "test", version: "0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl)));
    const result = await client.callTool({ name: "list_pods", arguments: { namespace: "shop" } });
    expect(result.isError).toBeFalsy();
    await client.close();

    const response = await fetch(metricsUrl);
    expect(response.status).toBe(200);
    const body = await response.text();
    expect(body).toMatch(/deputy_tool_calls_total\{tool="list_pods",outcome="ok",component="mcp"\} 1/);
    expect(body).toMatch(/deputy_process_cpu_seconds_total/);
  });
});
