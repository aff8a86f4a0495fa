import { request } from "node:https";
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { ApiException, CoreV1Api, type V1Pod } from "@kubernetes/client-node";
import {
  SEED,
  adminKubeConfig,
  eventually,
  freshNamespace,
  loadTestEnv,
  writePodLog,
} from "../helpers/testenv.ts";
import { testEnvLayout } from "../../devenv/layout.ts";
import type { TestEnvState } from "../../devenv/testenv.ts";

/** pods/log through the real API server, which proxies to the fake kubelet. */
describe("pod logs via the API server", () => {
  const core = (): CoreV1Api => adminKubeConfig().makeApiClient(CoreV1Api);
  let checkout: V1Pod;
  let ns: string;

  beforeAll(async () => {
    const pods = await core().listNamespacedPod({ namespace: SEED.namespace, labelSelector: "app=checkout" });
    checkout = pods.items.find((pod) => !pod.metadata?.deletionTimestamp)!;
    expect(checkout).toBeDefined();
    ns = await freshNamespace("logs");
    await core().createNamespacedPod({
      namespace: ns,
      body: { metadata: { name: "app" }, spec: { containers: [{ name: "app", image: "busybox:1.36" }] } },
    });
    await eventually("pod app to run", async () => {
      const pod = await core().readNamespacedPod({ name: "app", namespace: ns });
      return pod.status?.phase === "Running";
    });
  });

  it("serves the seeded crash log, ending in a stack trace, with tailLines honoured", async () => {
    const name = checkout.metadata!.name!;
    const full = await core().readNamespacedPodLog({
      name,
      namespace: SEED.namespace,
      container: "checkout",
    });
    expect(full).toContain("Application run failed");
    expect(full).toContain(SEED.injection.text);
    expect(full.trimEnd().split("\n").at(-1)).toMatch(/^\t\.\.\. \d+ common frames omitted$/);

    const tail = await core().readNamespacedPodLog({
      name,
      namespace: SEED.namespace,
      container: "checkout",
      tailLines: 3,
    });
    expect(tail.split("\n").filter((line) => line.length > 0)).toEqual(full.trimEnd().split("\n").slice(-3));

    const previous = await core().readNamespacedPodLog({
      name,
      namespace: SEED.namespace,
      container: "checkout",
      previous: true,
      tailLines: 1,
    });
    expect(previous).toMatch(/common frames omitted\n$/);
  });

  it("honours limitBytes and sinceSeconds on a log a test wrote", async () => {
    const name = "app";
    const old = new Date(Date.now() - 3600_000).toISOString();
    const recent = new Date(Date.now() - 5_000).toISOString();
    const text = `${old} old line one\n${old} old line two\n${recent} recent line\ncontinuation of the recent line\n`;
    await writePodLog(ns, name, "app", text);

    const limited = await core().readNamespacedPodLog({
      name,
      namespace: ns,
      container: "app",
      limitBytes: 10,
    });
    expect(limited).toBe(text.slice(0, 10));

    const since = await core().readNamespacedPodLog({
      name,
      namespace: ns,
      container: "app",
      sinceSeconds: 60,
    });
    expect(since).toBe(`${recent} recent line\ncontinuation of the recent line\n`);
  });

  it("returns a kubelet-style error for a previous log that does not exist", async () => {
    const pods = await core().listNamespacedPod({ namespace: SEED.namespace, labelSelector: "app=frontend" });
    const frontend = pods.items[0]!.metadata!.name!;
    const error = await core()
      .readNamespacedPodLog({ name: frontend, namespace: SEED.namespace, container: "nginx", previous: true })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(ApiException);
    const status = JSON.parse(String((error as ApiException<unknown>).body)) as {
      code: number;
      message: string;
    };
    expect(status.code).toBe(400);
    expect(status.message).toMatch(
      /^previous terminated container "nginx" in pod "frontend-[a-z0-9-]+" not found$/,
    );
  });

  it("tails a 100 MB log without loading it", async () => {
    await core().createNamespacedPod({
      namespace: ns,
      body: { metadata: { name: "big" }, spec: { containers: [{ name: "app", image: "busybox:1.36" }] } },
    });
    await eventually("pod big to run", async () => {
      const pod = await core().readNamespacedPod({ name: "big", namespace: ns });
      return pod.status?.phase === "Running";
    });
    const line = `${"x".repeat(99)}\n`;
    const block = line.repeat(10_000); // 1 MB
    const file = await writePodLog(ns, "big", "app", "");
    for (let i = 0; i < 100; i++) await writePodLog(ns, "big", "app", block, { append: true });
    await writePodLog(ns, "big", "app", "second to last\nthe very end\n", { append: true });
    expect(readFileSync(file).length).toBeGreaterThan(100_000_000);

    const started = Date.now();
    const tail = await core().readNamespacedPodLog({
      name: "big",
      namespace: ns,
      container: "app",
      tailLines: 2,
    });
    expect(tail).toBe("second to last\nthe very end\n");
    expect(Date.now() - started).toBeLessThan(5_000);
    const head = await core().readNamespacedPodLog({
      name: "big",
      namespace: ns,
      container: "app",
      limitBytes: 250,
    });
    expect(head).toBe(block.slice(0, 250));
  });

  it("only serves the API server: the fake kubelet refuses clients without a certificate from the test CA", async () => {
    const env = loadTestEnv();
    const state = JSON.parse(readFileSync(testEnvLayout().envJson, "utf8")) as TestEnvState;
    const outcome = await new Promise<string>((resolveOutcome) => {
      const req = request(
        {
          host: "127.0.0.1",
          port: state.ports.kubelet,
          path: `/containerLogs/${SEED.namespace}/${checkout.metadata!.name!}/checkout`,
          ca: readFileSync(env.caFile),
        },
        (res) => resolveOutcome(`status ${res.statusCode}`),
      );
      req.on("error", (error) => resolveOutcome(`refused: ${error.message}`));
      req.end();
    });
    expect(outcome).toMatch(/^refused/);
  });
});
