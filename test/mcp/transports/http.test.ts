import { request } from "node:http";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectMcpOverHttp } from "../../../bot/mcp-client.ts";
import { ASSERTION_HEADER, createCallerVerifier, signAssertion } from "../../../core/identity/caller-auth.ts";
import { generateKeys } from "../../../core/identity/keys.ts";
import { createKubeClients } from "../../../core/kube/client.ts";
import { kubeConfigFromToken } from "../../../core/kube/config.ts";
import { startHttpServer, type RunningHttpServer } from "../../../mcp/transports/http.ts";
import { loadTestEnv } from "../../helpers/testenv.ts";
import { startHarness, type Harness } from "../harness.ts";

/** Streamable HTTP on /mcp with the real SDK client, plus the health endpoints. */
let h: Harness;
let http: RunningHttpServer;
let redis: Redis;
const keys = generateKeys(["mcpCaller"]);
const prefix = `deputy-test-trust-${randomBytes(4).toString("hex")}:`;

beforeAll(async () => {
  h = await startHarness();
  redis = new Redis(loadTestEnv().redisUrl);
  http = await startHttpServer(h.deps, {
    host: "127.0.0.1",
    port: 0,
    callers: createCallerVerifier({ key: keys.mcpCaller!, purpose: "mcp", redis, prefix }),
  });
});

afterAll(async () => {
  await http?.close();
  await h?.close();
  redis?.disconnect();
});

const mcpHeaders = { "content-type": "application/json", accept: "application/json, text/event-stream" };
const callAs = (requester: unknown): string =>
  JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "tools/call",
    params: {
      name: "restart_deployment",
      arguments: { namespace: "shop", name: "frontend" },
      _meta: { "deputy/requester": requester },
    },
  });

describe("Streamable HTTP transport", () => {
  it("serves tools/list and tools/call on /mcp to the signing bot, passing the caller it vouches for", async () => {
    const client = await connectMcpOverHttp(http.url, keys.mcpCaller!);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain("troubleshoot_pod");
      const before = h.audit.length;
      const result = (await client.callTool({
        name: "troubleshoot_pod",
        arguments: { namespace: "shop", name: "checkout" },
        _meta: {
          "deputy/requester": { kind: "slack", id: "U42", teamId: "T1" },
          "deputy/prompt": "why is checkout crashing?",
        },
      })) as CallToolResult;
      expect(result.isError).toBeFalsy();
      expect(result.content[0]?.type === "text" && result.content[0].text).toMatch(/CrashLoopBackOff/);
      expect(h.audit.slice(before)).toEqual([
        expect.objectContaining({
          kind: "tool_call",
          tool: "troubleshoot_pod",
          actor: expect.objectContaining({ id: "U42" }),
          prompt: "why is checkout crashing?",
          outcome: "ok",
        }),
      ]);
    } finally {
      await client.close();
    }
  });

  it("answers /healthz and /readyz, and refuses other methods and paths", async () => {
    const base = http.url.replace(/\/mcp$/, "");
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.text()).toMatch(/^kubernetes \S+ reachable/);
    expect((await fetch(http.url)).status).toBe(405);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    const bad = await fetch(http.url, { method: "POST", headers: mcpHeaders, body: "{not json" });
    expect(bad.status).toBe(400);
    // DNS rebinding: a page served as evil.example that resolves to 127.0.0.1 is refused.
    // (fetch cannot set Host, so this uses node:http.)
    const rebound = await new Promise<number>((resolve, reject) => {
      const req = request(
        http.url,
        {
          method: "POST",
          headers: {
            host: "evil.example:8080",
            "content-type": "application/json",
            accept: "application/json, text/event-stream",
          },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }));
    });
    expect(rebound).toBe(403);
  });

  it("answers 401, audited, to a caller without the bot's key, whatever _meta says, and proposes nothing", async () => {
    const before = h.audit.length;
    const pending = (await h.deps.actions.list("pending")).length;
    const forged = callAs({ kind: "slack", id: "U_ONCALL_LEAD", teamId: "T1" });
    const anonymous = await fetch(http.url, { method: "POST", headers: mcpHeaders, body: forged });
    expect(anonymous.status).toBe(401);
    // Signed with another key, or a valid signature moved to another body: refused too.
    const wrongKey = signAssertion(generateKeys(["mcpCaller"]).mcpCaller!, "mcp", {
      method: "POST",
      path: "/mcp",
      body: forged,
    });
    const other = await fetch(http.url, {
      method: "POST",
      headers: { ...mcpHeaders, [ASSERTION_HEADER]: wrongKey },
      body: forged,
    });
    expect(other.status).toBe(401);
    const signedForRead = signAssertion(keys.mcpCaller!, "mcp", {
      method: "POST",
      path: "/mcp",
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    const moved = await fetch(http.url, {
      method: "POST",
      headers: { ...mcpHeaders, [ASSERTION_HEADER]: signedForRead },
      body: forged,
    });
    expect(moved.status).toBe(401);
    expect(await moved.json()).toMatchObject({ error: { message: /body does not match/ } });
    expect(h.audit.slice(before)).toEqual([
      expect.objectContaining({
        kind: "policy_decision",
        decision: "refused",
        rule: "caller-unauthenticated",
      }),
      expect.objectContaining({
        rule: "caller-unauthenticated",
        message: expect.stringMatching(/bad signature/),
      }),
      expect.objectContaining({ rule: "caller-unauthenticated", message: expect.stringMatching(/body/) }),
    ]);
    expect((await h.deps.actions.list("pending")).length).toBe(pending);
  });

  it("refuses a replayed assertion and one timestamped beyond the skew window", async () => {
    const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" });
    const header = signAssertion(keys.mcpCaller!, "mcp", { method: "POST", path: "/mcp", body });
    const send = (value: string) =>
      fetch(http.url, { method: "POST", headers: { ...mcpHeaders, [ASSERTION_HEADER]: value }, body });
    expect((await send(header)).status).toBe(200);
    expect((await send(header)).status).toBe(401);
    const future = signAssertion(keys.mcpCaller!, "mcp", {
      method: "POST",
      path: "/mcp",
      body,
      now: Math.floor(Date.now() / 1000) + 400,
    });
    const refused = await send(future);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: { message: /in the future/ } });
  });

  it("in local mode's anonymous listener, serves reads but believes no identity from _meta", async () => {
    const local = await startHttpServer(h.deps, { host: "127.0.0.1", port: 0, callers: "anonymous" });
    try {
      const response = await fetch(local.url, {
        method: "POST",
        headers: mcpHeaders,
        body: callAs({ kind: "slack", id: "U_ONCALL_LEAD" }),
      });
      expect(response.status).toBe(200);
      const reply = (await response.json()) as { result: CallToolResult };
      expect(reply.result.isError).toBe(true);
      expect(JSON.stringify(reply.result.content)).toMatch(/needs the requester's identity/);
    } finally {
      await local.close();
    }
  });

  it("is not ready when the Kubernetes API cannot be reached", async () => {
    const deps = {
      ...h.deps,
      kube: createKubeClients(kubeConfigFromToken({ server: "https://127.0.0.1:1", token: "x" }), {
        retry: { maxAttempts: 1 },
      }),
    };
    const down = await startHttpServer(deps, { host: "127.0.0.1", port: 0, callers: "anonymous" });
    try {
      const ready = await fetch(down.url.replace(/\/mcp$/, "/readyz"));
      expect(ready.status).toBe(503);
      expect(await ready.text()).toMatch(/kubernetes API unreachable/);
    } finally {
      await down.close();
      deps.kube.close();
    }
  });
});
