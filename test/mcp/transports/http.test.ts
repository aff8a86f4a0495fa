import { request } from "node:http";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKubeClients } from "../../../core/kube/client.ts";
import { kubeConfigFromToken } from "../../../core/kube/config.ts";
import { startHttpServer, type RunningHttpServer } from "../../../mcp/transports/http.ts";
import { startHarness, type Harness } from "../harness.ts";

/** Streamable HTTP on /mcp with the real SDK client, plus the health endpoints. */
let h: Harness;
let http: RunningHttpServer;

beforeAll(async () => {
  h = await startHarness();
  http = await startHttpServer(h.deps, { host: "127.0.0.1", port: 0 });
});

afterAll(async () => {
  await http?.close();
  await h?.close();
});

describe("Streamable HTTP transport", () => {
  it("serves tools/list and tools/call on /mcp, passing the caller from _meta", async () => {
    const client = new Client({ name: "http-test", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(http.url)));
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
    const bad = await fetch(http.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: "{not json",
    });
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

  it("is not ready when the Kubernetes API cannot be reached", async () => {
    const deps = {
      ...h.deps,
      kube: createKubeClients(kubeConfigFromToken({ server: "https://127.0.0.1:1", token: "x" }), {
        retry: { maxAttempts: 1 },
      }),
    };
    const down = await startHttpServer(deps, { host: "127.0.0.1", port: 0 });
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
