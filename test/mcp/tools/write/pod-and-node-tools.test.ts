import { randomBytes } from "node:crypto";
import { CoreV1Api } from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Pod } from "../../../../core/kube/types.ts";
import type { PendingActionSummary } from "../../../../core/pending.ts";
import { drainSkipReason } from "../../../../executor/runners/node.ts";
import { adminKubeConfig } from "../../../helpers/testenv.ts";
import { alice, connectRedis, dropPrefix, testPrefix } from "../../../executor/support.ts";
import { ensure, prepareNamespaces } from "../../../executor/write-env.ts";
import { startHarness, type Harness } from "../../harness.ts";

/** delete_pod, cordon_node, uncordon_node and drain_node proposals against the real API server. */
const NS = "deputy-w-tools";
// Unique per run: nothing is deleted and re-created under the same name.
const RUN = randomBytes(3).toString("hex");
const NODE = `deputy-test-node-tools-${RUN}`;
const WORKER = `worker-${RUN}`;
const MIRROR = `static-proxy-${RUN}`;
const SYSTEM = `deputy-test-dns-${RUN}`;
const meta = { "deputy/requester": alice };

describe("pod and node write tools", () => {
  let harness: Harness;
  let redis: Redis;
  let prefix: string;
  const core = () => adminKubeConfig().makeApiClient(CoreV1Api);

  async function pod(
    name: string,
    namespace: string,
    annotations: Record<string, string> = {},
  ): Promise<void> {
    await ensure(adminKubeConfig(), {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace, annotations, labels: { app: name } },
      spec: { nodeName: NODE, containers: [{ name: "c", image: "ghcr.io/example/c:1" }] },
    } as never);
  }

  beforeAll(async () => {
    await prepareNamespaces();
    redis = connectRedis();
    prefix = testPrefix("node-tools");
    harness = await startHarness({
      env: { DEPUTY_REDIS_PREFIX: prefix, DEPUTY_RATE_LIMIT_USER_PER_MINUTE: "1000" },
    });
    await ensure(adminKubeConfig(), {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: NODE, labels: { "deputy.dev/test": "true" } },
    });
    await pod(WORKER, NS);
    await pod(MIRROR, NS, { "kubernetes.io/config.mirror": "abc" });
    await pod(SYSTEM, "kube-system");
  });

  afterAll(async () => {
    for (const [name, namespace] of [
      [WORKER, NS],
      [MIRROR, NS],
      [SYSTEM, "kube-system"],
    ] as const) {
      await core()
        .deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 })
        .catch(() => undefined);
    }
    await core()
      .deleteNode({ name: NODE })
      .catch(() => undefined);
    await harness?.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it("delete_pod proposes an eviction and flags a pod nothing will recreate", async () => {
    const reply = await harness.call("delete_pod", { namespace: NS, name: WORKER }, meta);
    expect(reply.isError, reply.text).toBe(false);
    const summary = reply.structured?.pendingAction as PendingActionSummary;
    expect(summary.summary).toBe(`Evict pod ${NS}/${WORKER}.`);
    expect(summary.preview[1]).toBe("Not owned by a controller: nothing will recreate it.");
    expect(summary.risk.flags.map((flag) => flag.rule)).toEqual(["bare-pod"]);
    expect(summary.target.uid).toBeTruthy();
    expect(
      (await core().readNamespacedPod({ name: WORKER, namespace: NS })).metadata?.deletionTimestamp,
    ).toBeUndefined();
  });

  it("delete_pod with force or a zero grace period is refused by the no-force rule and stores nothing", async () => {
    for (const extra of [{ force: true }, { gracePeriodSeconds: 0 }]) {
      const before = await redis.keys(`${prefix}*`);
      const reply = await harness.call("delete_pod", { namespace: NS, name: WORKER, ...extra }, meta);
      expect(reply.isError).toBe(true);
      expect(reply.text).toMatch(/^Refused by rule no-force: "(force|gracePeriodSeconds)" is not accepted/);
      expect(reply.structured?.pendingAction).toBeUndefined();
      expect((await redis.keys(`${prefix}*`)).filter((key) => !before.includes(key))).toEqual([]);
    }
    expect(
      (await core().readNamespacedPod({ name: WORKER, namespace: NS })).metadata?.deletionTimestamp,
    ).toBeUndefined();
  });

  it("drain_node lists what it will evict and what stays, and flags protected-namespace pods", async () => {
    const reply = await harness.call("drain_node", { name: NODE }, meta);
    expect(reply.isError, reply.text).toBe(false);
    const summary = reply.structured?.pendingAction as PendingActionSummary;
    expect(summary.summary).toBe(`Drain node ${NODE}: cordon it and evict 1 pod(s).`);
    expect(summary.preview).toContain(`Evicted one by one: ${NS}/${WORKER}.`);
    const left = summary.preview.find((line) => line.startsWith("Left in place:"));
    expect(left).toContain(`${NS}/${MIRROR} (mirror pod (managed by the kubelet))`);
    expect(left).toContain(`kube-system/${SYSTEM} (protected namespace)`);
    expect(summary.risk.flags.map((flag) => flag.rule)).toContain("protected-namespace");
    const node = await core().readNode({ name: NODE });
    expect(node.spec?.unschedulable).toBeFalsy();
  });

  it("cordon and uncordon preview the switch", async () => {
    const cordon = await harness.call("cordon_node", { name: NODE }, meta);
    expect((cordon.structured?.pendingAction as PendingActionSummary).preview[0]).toBe(
      "spec.unschedulable: false → true",
    );
    const uncordon = await harness.call("uncordon_node", { name: NODE }, meta);
    expect((uncordon.structured?.pendingAction as PendingActionSummary).preview[0]).toBe(
      `Node ${NODE} is not cordoned; this changes nothing.`,
    );
    const missing = await harness.call("cordon_node", { name: "no-such-node" }, meta);
    expect(missing.isError).toBe(true);
  });

  it("skips DaemonSet, mirror, finished and terminating pods when draining", () => {
    const base: Pod = { metadata: { namespace: "shop", name: "p" }, status: { phase: "Running" } };
    expect(drainSkipReason(base, [])).toBeUndefined();
    expect(
      drainSkipReason(
        {
          ...base,
          metadata: {
            ...base.metadata,
            ownerReferences: [
              { apiVersion: "apps/v1", kind: "DaemonSet", name: "fluentd", uid: "u", controller: true },
            ],
          },
        },
        [],
      ),
    ).toBe("DaemonSet pod");
    expect(drainSkipReason({ ...base, status: { phase: "Succeeded" } }, [])).toBe("already finished");
    expect(
      drainSkipReason(
        { ...base, metadata: { ...base.metadata, deletionTimestamp: "2026-01-01T00:00:00Z" } },
        [],
      ),
    ).toBe("already terminating");
    expect(drainSkipReason(base, ["shop"])).toBe("protected namespace");
  });
});
