import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { alertQueueKey } from "../../../core/alerts.ts";
import { loadTestEnv, seedCluster } from "../../helpers/testenv.ts";

/** `deputy mcp --http` as a process: MCP on /mcp, and its metrics on their own port. */
const ROOT = join(import.meta.dirname, "../../..");
let child: ChildProcess;
let mcpUrl = "";
let metricsUrl = "";
const prefix = `deputy-test:${randomBytes(6).toString("hex")}:`;

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
        DEPUTY_REDIS_PREFIX: prefix,
        DEPUTY_ANOMALY_DENIALS_PER_MINUTE: "1",
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

  it("counts policy denials in Redis and queues the anomaly alert for the bot to post", async () => {
    const client = new Client({ name: "test", version: "0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl)));
    const requester = { kind: "local", id: "mallory" };
    for (const name of ["coredns-a", "coredns-b"]) {
      const refused = await client.callTool({
        name: "delete_pod",
        arguments: { namespace: "kube-system", name },
        _meta: { "deputy/requester": requester },
      });
      expect(refused.isError).toBe(true);
    }
    await client.close();
    const redis = new Redis(loadTestEnv().redisUrl);
    try {
      const deadline = Date.now() + 10_000;
      let queued: string[] = [];
      while (Date.now() < deadline) {
        queued = await redis.lrange(alertQueueKey(prefix), 0, -1);
        if (queued.some((alert) => alert.includes('"rule":"denial-burst"'))) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(queued.map((alert) => (JSON.parse(alert) as { rule: string }).rule)).toContain("denial-burst");
    } finally {
      for (const key of await redis.keys(`${prefix}*`)) await redis.del(key);
      redis.disconnect();
    }
  });
});
