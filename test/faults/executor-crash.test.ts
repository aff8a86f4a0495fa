import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { CoreV1Api } from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { noticeQueueKey } from "../../core/actions/notices.ts";
import type { PendingActionRef } from "../../core/actions/schema.ts";
import type { ActionStore } from "../../core/actions/store.ts";
import { createLogger } from "../../core/observability/logger.ts";
import type { ApprovalExecutor } from "../../executor/approval-executor.ts";
import { OpenBaoError } from "../../executor/openbao-client.ts";
import { adminKubeConfig, eventually, loadTestEnv } from "../helpers/testenv.ts";
import type { Harness } from "../mcp/harness.ts";
import { alice, bob, capture, TEST_ACTION_KEY, type Captured } from "../executor/support.ts";
import { ensure } from "../helpers/kube-apply.ts";
import { type WriteEnv } from "../executor/write-env.ts";
import { startWriteFixture, writeExecutor, type WriteFixture } from "../executor/write-fixture.ts";
import { startDelayProxy, type DelayProxy } from "./helpers/delay-proxy.ts";

/**
 * An executor process killed in the middle of a drain, as in production: the
 * drain runs in its own process with a real OpenBao credential against a
 * slowed API server; another executor leaves it alone while it sends
 * heartbeats, and once it is killed marks the action interrupted with the
 * steps done and not done, revokes its lease and queues a notice for the
 * thread. Nothing runs twice.
 */
const NS = "deputy-w-exec";
const RUN = randomBytes(3).toString("hex");
const NODE = `deputy-test-node-crash-${RUN}`;
// Each eviction goes through the 600 ms proxy: enough pods that the drain is still running
// when the test has waited out the staleness bound below.
const PODS = Array.from({ length: 16 }, (_, i) => `crash-${RUN}-${String(i).padStart(2, "0")}`);
// Far above the child's 200 ms heartbeat, so a child stalled a while on a loaded machine is
// still alive to the survivor.
const STALE_AFTER_MS = 4000;

describe("an executor killed mid-drain", () => {
  let fixture: WriteFixture | undefined;
  let env: WriteEnv;
  let harness: Harness;
  let redis: Redis;
  let prefix: string;
  let store: ActionStore;
  let proxy: DelayProxy;
  let survivor: ApprovalExecutor;
  let captured: Captured;
  let child: ChildProcess | undefined;
  const core = () => adminKubeConfig().makeApiClient(CoreV1Api);

  beforeAll(async () => {
    fixture = await startWriteFixture("crash", NS);
    ({ env, harness, redis, prefix, store } = fixture);
    proxy = await startDelayProxy(new URL(loadTestEnv().server), 600);
    captured = capture();
    survivor = writeExecutor(env, {
      store,
      audit: captured.audit,
      logger: captured.logger,
      brokerLogger: createLogger({ level: "silent" }),
      owner: "survivor",
      staleAfterMs: STALE_AFTER_MS,
      notify: async (action, text) => {
        await redis.rpush(noticeQueueKey(prefix), JSON.stringify({ actionId: action.id, text }));
      },
    });
    await ensure(adminKubeConfig(), { apiVersion: "v1", kind: "Node", metadata: { name: NODE } });
    const owner = await core().createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: `crash-owner-${RUN}` } },
    });
    for (const name of PODS) {
      await core().createNamespacedPod({
        namespace: NS,
        body: {
          metadata: {
            name,
            ownerReferences: [
              {
                apiVersion: "v1",
                kind: "ConfigMap",
                name: `crash-owner-${RUN}`,
                uid: owner.metadata!.uid!,
                controller: true,
              },
            ],
          },
          spec: { nodeName: NODE, containers: [{ name: "c", image: "ghcr.io/example/c:1" }] },
        },
      });
    }
  }, 180_000);

  afterAll(async () => {
    child?.kill("SIGKILL");
    await proxy?.close();
    await core()
      .deleteNode({ name: NODE })
      .catch(() => undefined);
    await fixture?.close();
  });

  it("is left alone while alive, then reported interrupted with what was and was not done, and never re-run", async () => {
    const reply = await harness.call("drain_node", { name: NODE }, { "deputy/requester": alice });
    expect(reply.isError, reply.text).toBe(false);
    const ref = reply.structured?.pendingAction as PendingActionRef;

    let output = "";
    child = spawn(process.execPath, [join(import.meta.dirname, "helpers/executor-child.ts")], {
      env: {
        ...process.env,
        REDIS_URL: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
        PREFIX: prefix,
        ACTION_KEY: TEST_ACTION_KEY.toString("base64"),
        ACTION_ID: ref.id,
        DIGEST: ref.digest,
        APPROVER: bob.id,
        OWNER: "doomed",
        KUBE_SERVER: proxy.url,
        KUBE_CA: env.cluster.caPem ?? "",
        BAO_ADDR: loadTestEnv().baoAddr,
        BAO_AUTH_MOUNT: env.authMount,
        BAO_AUTH_ROLE: env.authRole,
        BAO_SECRETS_MOUNT: env.secretsMount,
        BAO_JWT_PATH: env.jwtPath,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));

    const doneSteps = async (): Promise<string[]> =>
      (await store.steps(ref.id)).filter((step) => step.status === "done").map((step) => step.step);
    await eventually(
      `the drain to cordon the node (${output})`,
      async () => (await doneSteps()).includes(`cordon node ${NODE}`),
      {
        timeoutMs: 60_000,
        intervalMs: 100,
      },
    );

    // Alive and sending heartbeats: another executor does not touch it, however long it runs.
    await new Promise((resolve) => setTimeout(resolve, STALE_AFTER_MS + 500));
    expect((await survivor.reconcile()).map((action) => action.id)).not.toContain(ref.id);
    expect((await store.get(ref.id))?.state).toBe("executing");

    await eventually(
      "the first eviction",
      async () => (await doneSteps()).some((step) => step.startsWith("evict ")),
      {
        timeoutMs: 60_000,
        intervalMs: 100,
      },
    );
    child.kill("SIGKILL");
    await new Promise<void>((resolve) => child!.once("exit", () => resolve()));
    expect(output).not.toContain("decided");
    const lease = await store.leaseOf(ref.id);
    expect(lease).toBeTruthy();

    // Within the staleness bound, the survivor reports it: interrupted, never re-run.
    await new Promise((resolve) => setTimeout(resolve, STALE_AFTER_MS + 100));
    const reconciled = await survivor.reconcile();
    expect(reconciled.map((action) => action.id)).toContain(ref.id);
    const final = (await store.get(ref.id))!;
    expect(final.state).toBe("interrupted");
    const done = await doneSteps();
    const message = final.outcome!.message;
    expect(message).toMatch(
      /^Interrupted: the executor running this action stopped part-way; it was not run again\./,
    );
    expect(message).toContain(`Done: ${done.join(", ")}.`);
    const untouched = PODS.filter(
      (pod) =>
        !(
          done.includes(`evict ${NS}/${pod}`) ||
          message.includes(`outcome unknown (check the cluster): evict ${NS}/${pod}`)
        ),
    );
    expect(untouched.length).toBeGreaterThan(0);
    expect(message).toContain(`Not done: ${untouched.map((pod) => `evict ${NS}/${pod}`).join(", ")}.`);
    for (const pod of untouched) {
      const live = await core().readNamespacedPod({ name: pod, namespace: NS });
      expect(live.metadata?.deletionTimestamp, `${pod} was not evicted`).toBeUndefined();
    }
    expect(final.outcome?.leaseId).toBe(lease);
    expect(await store.executions(ref.id)).toBe(1);

    // The lease is revoked: OpenBao no longer knows it.
    const lookup = await env.openbao
      .request("PUT", "sys/leases/lookup", {
        token: loadTestEnv().baoRootToken,
        body: { lease_id: lease },
        schema: { parse: (value: unknown) => value } as never,
      })
      .then(
        () => "found",
        (error: unknown) => (error instanceof OpenBaoError ? error.status : "other"),
      );
    expect(lookup).toBe(400);

    // The thread is told, and the audit says who noticed.
    const notices = (await redis.lrange(noticeQueueKey(prefix), 0, -1)).map(
      (line) => JSON.parse(line) as { actionId: string; text: string },
    );
    expect(notices).toContainEqual({ actionId: ref.id, text: message });
    expect(
      captured.records.some(
        (record) =>
          record.kind === "execution" && record.actionId === ref.id && record.outcome === "interrupted",
      ),
    ).toBe(true);
    // A late click changes nothing.
    expect(
      (await survivor.decide({ actionId: ref.id, digest: ref.digest, approver: bob, decision: "approve" }))
        .status,
    ).toBe("not_pending");
  });
});
