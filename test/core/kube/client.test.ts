import { readFileSync } from "node:fs";
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKubeClients, type KubeClients } from "../../../core/kube/client.ts";
import { kubeConfigFromToken } from "../../../core/kube/config.ts";
import { createLimiter } from "../../../core/kube/limiter.ts";
import { testEnvLayout } from "../../../devenv/layout.ts";
import type { TestEnvState } from "../../../devenv/testenv.ts";
import {
  adminKubeConfig,
  deleteNamespace,
  freshNamespace,
  loadTestEnv,
  writePodLog,
} from "../../helpers/testenv.ts";
import { readerKubeConfig, startHarness, type Harness } from "../../mcp/harness.ts";
import { startApiProxy, type ApiProxy } from "./api-proxy.ts";

/**
 * The Kubernetes wrapper against the real API server: coalescing, the
 * concurrency limit, retries with backoff, and the 410 Gone list restart.
 */
const PODS = 30;
let ns: string;
let token: string;
let proxy: ApiProxy;
let kube: KubeClients;

beforeAll(async () => {
  ns = await freshNamespace("kubeclient");
  const reader = await readerKubeConfig();
  token = reader.getCurrentUser()!.token!;
  proxy = await startApiProxy(token);
  kube = createKubeClients(proxy.kubeConfig, { maxConcurrency: 4, retry: { baseMs: 5, capMs: 50 } });
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  const limiter = createLimiter(8);
  await Promise.all(
    Array.from({ length: PODS }, (_, i) =>
      limiter.run(() =>
        core.createNamespacedPod({
          namespace: ns,
          body: {
            metadata: {
              name: `p-${String(i).padStart(2, "0")}`,
              annotations: { "testenv.deputy.dev/simulate": "pending" },
            },
            spec: { containers: [{ name: "app", image: "busybox:1.36" }] },
          },
        }),
      ),
    ),
  );
}, 120_000);

afterAll(async () => {
  kube?.close();
  await proxy?.close();
  if (ns) await deleteNamespace(ns);
});

const podsPath = (): string => `GET /api/v1/namespaces/${ns}/pods`;

describe("single-flight", () => {
  it("coalesces 20 identical concurrent reads into one API call", async () => {
    const before = proxy.seen.length;
    const results = await Promise.all(
      Array.from({ length: 20 }, () => kube.core.listPods(ns, { limit: 100 })),
    );
    const calls = proxy.seen.slice(before).filter((line) => line.startsWith(podsPath()));
    expect(calls).toHaveLength(1);
    expect(results.every((r) => r.items.length === PODS)).toBe(true);
    expect(kube.stats().coalesced).toBeGreaterThanOrEqual(19);
  });

  it("coalesces identical concurrent tool calls through MCP too (metrics hook)", async () => {
    const h: Harness = await startHarness({ kubeConfig: proxy.kubeConfig });
    try {
      const before = proxy.seen.length;
      const replies = await Promise.all(
        Array.from({ length: 10 }, () => h.call("list_pods", { namespace: ns })),
      );
      expect(replies.every((r) => !r.isError)).toBe(true);
      const podCalls = proxy.seen.slice(before).filter((l) => l.startsWith(podsPath()));
      expect(podCalls).toHaveLength(1);
      expect(h.requests.filter((r) => r.path === `/api/v1/namespaces/${ns}/pods`)).toHaveLength(1);
    } finally {
      await h.close();
    }
  });

  it("does not coalesce different reads", async () => {
    const before = proxy.seen.length;
    await Promise.all([kube.core.listPods(ns, { limit: 5 }), kube.core.listPods(ns, { limit: 6 })]);
    expect(proxy.seen.slice(before).filter((l) => l.startsWith(podsPath()))).toHaveLength(2);
  });
});

describe("concurrency limit", () => {
  it("never has more than maxConcurrency calls in flight", async () => {
    let peak = 0;
    const limited = createKubeClients(proxy.kubeConfig, {
      maxConcurrency: 3,
      onRequest: () => undefined,
    });
    const watcher = setInterval(() => {
      peak = Math.max(peak, limited.stats().active);
    }, 1);
    await Promise.all(
      Array.from({ length: 30 }, (_, i) => limited.core.readPod(ns, `p-${String(i).padStart(2, "0")}`)),
    );
    clearInterval(watcher);
    limited.close();
    expect(peak).toBeLessThanOrEqual(3);
    expect(peak).toBeGreaterThan(0);
  });
});

describe("retries", () => {
  it("retries 429 and 503 with backoff, then succeeds", async () => {
    const before = proxy.seen.length;
    const retries = kube.stats().retries;
    proxy.failNext(2, 429, { "retry-after": "0" });
    const pods = await kube.core.listPods(ns, { limit: 3 });
    expect(pods.items).toHaveLength(3);
    expect(proxy.seen.length - before).toBe(3);
    proxy.failNext(1, 503);
    await kube.core.readNamespace(ns);
    expect(kube.stats().retries - retries).toBe(3);
  });

  it("gives up after maxAttempts with a clear error", async () => {
    proxy.failNext(10, 503);
    await expect(kube.core.readNamespace(ns)).rejects.toThrow("injected by the test proxy");
    proxy.failNext(0, 0);
  });

  it("does not retry 4xx answers", async () => {
    const before = proxy.seen.length;
    await expect(kube.core.readPod(ns, "missing")).rejects.toMatchObject({ status: 404, code: "NOT_FOUND" });
    expect(proxy.seen.length - before).toBe(1);
  });
});

/** Compact etcd at its current revision through its HTTP gateway, as the API server's compactor would. */
async function compactEtcd(): Promise<number> {
  // Write something first so there is a newer revision to compact to.
  await adminKubeConfig()
    .makeApiClient(CoreV1Api)
    .createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { generateName: "bump-" }, data: { at: String(Date.now()) } },
    });
  const state = JSON.parse(readFileSync(testEnvLayout().envJson, "utf8")) as TestEnvState;
  const base = `http://127.0.0.1:${state.ports.etcd}`;
  const range = (await (
    await fetch(`${base}/v3/kv/range`, {
      method: "POST",
      body: JSON.stringify({ key: Buffer.from("/").toString("base64") }),
    })
  ).json()) as { header: { revision: string } };
  const revision = Number(range.header.revision);
  const compact = await fetch(`${base}/v3/kv/compaction`, {
    method: "POST",
    body: JSON.stringify({ revision: String(revision), physical: true }),
  });
  expect(compact.ok, await compact.clone().text()).toBe(true);
  return revision;
}

/** A continue token as the API server mints them: unpadded base64url JSON. */
function continueToken(resourceVersion: number, start: string): string {
  return Buffer.from(JSON.stringify({ v: "meta.k8s.io/v1", rv: resourceVersion, start })).toString(
    "base64url",
  );
}

describe("410 Gone", () => {
  it("the API server really answers 410 for a continue token from a compacted revision", async () => {
    const first = await kube.core.listPods(ns, { limit: 10 });
    expect(first.continue).toBeDefined();
    await compactEtcd();
    // The real token, aged: its revision is older than etcd's compaction point. (A token
    // that is merely old may still be served from the API server's watch-cache snapshots.)
    const decoded = JSON.parse(Buffer.from(first.continue!, "base64url").toString("utf8")) as {
      rv: number;
      start: string;
    };
    expect(decoded.start).toBe("/p-09\u0000");
    const stale = continueToken(2, decoded.start);
    const raw = createKubeClients(
      kubeConfigFromToken({
        server: loadTestEnv().server,
        caData: readFileSync(loadTestEnv().caFile, "utf8"),
        token,
      }),
    );
    await expect(
      raw.get(`/api/v1/namespaces/${ns}/pods`, { limit: 10, continue: stale }),
    ).rejects.toMatchObject({
      status: 410,
      reason: "Expired",
    });
    raw.close();
  });

  it("a page with an expired continue token restarts from the first page, and says so", async () => {
    await compactEtcd();
    const stale = continueToken(2, `p-09\u0000`);
    const restarts = kube.stats().listRestarts;
    const page = await kube.core.listPods(ns, { limit: 10, continue: stale });
    expect(page.restarts).toBe(1);
    expect(page.items.map((p) => p.metadata?.name)).toEqual(
      Array.from({ length: 10 }, (_, i) => `p-${String(i).padStart(2, "0")}`),
    );
    expect(kube.stats().listRestarts).toBe(restarts + 1);
  });

  it("list_pods restarts instead of returning partial data, and the pages that follow are complete", async () => {
    const h = await startHarness({ kubeConfig: proxy.kubeConfig });
    try {
      await compactEtcd();
      const reply = await h.call("list_pods", {
        namespace: ns,
        limit: 20,
        continue: continueToken(2, "p-19\u0000"),
      });
      expect(reply.isError, reply.text).toBe(false);
      expect(reply.structured?.restarted).toBe(true);
      expect(reply.text).toContain("The continue token had expired (410 Gone");
      const names = (reply.structured?.pods as { name: string }[]).map((p) => p.name);
      expect(names[0]).toBe("p-00");
      const rest = await h.call("list_pods", {
        namespace: ns,
        limit: 20,
        continue: reply.structured?.continue as string,
      });
      const all = [...names, ...(rest.structured?.pods as { name: string }[]).map((p) => p.name)];
      expect(new Set(all).size).toBe(PODS);
    } finally {
      await h.close();
    }
  });
});

describe("logs", () => {
  it("reads the tail through the API server's pods/log", async () => {
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    const pod = await core.createNamespacedPod({
      namespace: ns,
      body: { metadata: { name: "logger" }, spec: { containers: [{ name: "app", image: "busybox:1.36" }] } },
    });
    expect(pod.metadata?.name).toBe("logger");
    for (
      let i = 0;
      i < 100 && !(await core.readNamespacedPod({ namespace: ns, name: "logger" })).spec?.nodeName;
      i++
    ) {
      await new Promise((r) => setTimeout(r, 200));
    }
    await writePodLog(
      ns,
      "logger",
      "app",
      Array.from({ length: 500 }, (_, i) => `line ${i}`).join("\n") + "\n",
    );
    const tail = await kube.logs.tail(ns, "logger", { container: "app", tailLines: 3 });
    expect(tail.lines).toEqual(["line 497", "line 498", "line 499"]);
    const grep = await kube.logs.tail(ns, "logger", {
      container: "app",
      tailLines: 2,
      grep: /line 4[0-9]9$/,
    });
    expect(grep.lines).toEqual(["line 489", "line 499"]);
    expect(grep.matchedLines).toBe(10);
  });
});
