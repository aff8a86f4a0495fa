import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { connectMcpOverHttp } from "../../../bot/mcp-client.ts";
import { alertQueueKey } from "../../../core/observability/alerts.ts";
import type { DeputyKeys } from "../../../core/identity/keys.ts";
import { ensureKeysInOpenBao, TEST_KEYS_PATH } from "../../helpers/deputy-keys.ts";
import { loadTestEnv, mintServiceAccountToken, seedCluster } from "../../helpers/testenv.ts";
import { EXECUTOR_NAMESPACE, prepareWriteEnv } from "../../executor/write-env.ts";
import { otlpEnv, startOtlpReceiver, traceOf, type OtlpReceiver } from "../../helpers/otlp-receiver.ts";

/**
 * `deputy mcp --http` as a process: MCP on /mcp for the bot only (its keys
 * from OpenBao, as in a cluster), and its metrics on their own port. Its
 * traces go to an OTLP receiver in the test, batched for longer than the test
 * runs, so they arrive only when SIGTERM stops it.
 */
const ROOT = join(import.meta.dirname, "../../..");
let child: ChildProcess;
let mcpUrl = "";
let metricsUrl = "";
let keys: DeputyKeys;
let otlp: OtlpReceiver;
const prefix = `deputy-test:${randomBytes(6).toString("hex")}:`;

beforeAll(async () => {
  await seedCluster();
  const env = loadTestEnv();
  const writeEnv = await prepareWriteEnv();
  keys = await ensureKeysInOpenBao();
  otlp = await startOtlpReceiver();
  // The MCP server's own OpenBao identity: its account, audience "openbao", in a file as projected.
  const dir = await mkdtemp(join(tmpdir(), "deputy-mcp-"));
  const jwtPath = join(dir, "token");
  await writeFile(
    jwtPath,
    await mintServiceAccountToken(EXECUTOR_NAMESPACE, "deputy-mcp", { audience: "openbao" }),
    { mode: 0o600 },
  );
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
        BAO_ADDR: env.baoAddr,
        DEPUTY_BAO_AUTH_MOUNT: writeEnv.authMount,
        DEPUTY_BAO_MCP_AUTH_ROLE: "deputy-mcp",
        DEPUTY_BAO_JWT_PATH: jwtPath,
        DEPUTY_KEYS_FROM_OPENBAO: TEST_KEYS_PATH,
        LOG_LEVEL: "silent",
        ...otlpEnv(otlp, 60_000),
      },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let stderr = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`deputy mcp did not start: ${stderr}`)), 30_000);
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      // Up to the line's end: a URL cut at a chunk boundary would otherwise match.
      const match = /serving (\S+) .*metrics at (\S+)\n/.exec(stderr);
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

afterAll(async () => {
  child?.kill("SIGTERM");
  await otlp?.close();
});

describe("deputy mcp --http", () => {
  it("answers 401 to a caller that does not hold the bot's key", async () => {
    const response = await fetch(mcpUrl, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: {
          name: "restart_deployment",
          arguments: { namespace: "shop", name: "frontend" },
          _meta: { "deputy/requester": { kind: "slack", id: "U0ONCALL" } },
        },
      }),
    });
    expect(response.status).toBe(401);
  });

  it("answers MCP tool calls and counts them in its Prometheus metrics", async () => {
    const client = await connectMcpOverHttp(mcpUrl, keys.mcpCaller!);
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
    const client = await connectMcpOverHttp(mcpUrl, keys.mcpCaller!);
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

  it("exports the spans it still holds when SIGTERM stops it, before it exits", async () => {
    const client = await connectMcpOverHttp(mcpUrl, keys.mcpCaller!);
    const result = await client.callTool({ name: "list_pods", arguments: { namespace: "shop" } });
    expect(result.isError).toBeFalsy();
    await client.close();
    // A batch goes out every 60 s: nothing has been sent yet.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(otlp.spans).toEqual([]);

    const exited = new Promise<{ code: number | null; spansAtExit: number }>((resolve) =>
      child.once("exit", (code) => resolve({ code, spansAtExit: otlp.spans.length })),
    );
    child.kill("SIGTERM");
    const { code, spansAtExit } = await exited;
    expect(code).toBe(0);
    expect(otlp.rejected).toEqual([]);
    // Every span arrived before the process was gone, the tool call with its Kubernetes read under it.
    expect(spansAtExit).toBe(otlp.spans.length);
    const tool = otlp.spans.findLast((span) => span.name === "tool list_pods");
    expect(tool, JSON.stringify(otlp.spans, null, 1)).toBeDefined();
    expect(tool!.service).toBe("deputy-mcp");
    const { spans, parentOf } = traceOf(otlp.spans, tool!.traceId);
    expect(spans.some((span) => span.name === "kube GET" && parentOf(span) === tool)).toBe(true);
  });
});
