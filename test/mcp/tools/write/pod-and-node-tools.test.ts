import { randomBytes } from "node:crypto";
import { CoreV1Api } from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Pod } from "../../../../core/kube/types.ts";
import { createActionStore, type ActionStore } from "../../../../core/actions/store.ts";
import { drainSkipReason } from "../../../../mcp/tools/write/drain-node.ts";
import { adminKubeConfig } from "../../../helpers/testenv.ts";
import { alice, connectRedis, dropPrefix, testPrefix, testSigner } from "../../../executor/support.ts";
import { ensure } from "../../../helpers/kube-apply.ts";
import { prepareNamespaces } from "../../../executor/write-env.ts";
import { startHarness, storedProposal, type Harness } from "../../harness.ts";

/** delete_pod, cordon_node, uncordon_node and drain_node proposals against the real API server. */
const NS = "deputy-w-tools";
// Unique per run: nothing is deleted and re-created under the same name.
const RUN = randomBytes(3).toString("hex");
const NODE = `deputy-test-node-tools-${RUN}`;
const WORKER = `worker-${RUN}`;
const MIRROR = `static-proxy-${RUN}`;
const SYSTEM = `deputy-test-dns-${RUN}`;
const MANAGED = `managed-${RUN}`;
const OWNER = `owner-${RUN}`;
const meta = { "deputy/requester": alice };

describe("pod and node write tools", () => {
  let harness: Harness;
  let redis: Redis;
  let prefix: string;
  let store: ActionStore;
  const core = () => adminKubeConfig().makeApiClient(CoreV1Api);

  async function pod(
    name: string,
    namespace: string,
    annotations: Record<string, string> = {},
    ownerReferences: {
      apiVersion: string;
      kind: string;
      name: string;
      uid: string;
      controller: boolean;
    }[] = [],
  ): Promise<void> {
    await ensure(adminKubeConfig(), {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace, annotations, labels: { app: name }, ownerReferences },
      spec: { nodeName: NODE, containers: [{ name: "c", image: "ghcr.io/example/c:1" }] },
    } as never);
  }

  beforeAll(async () => {
    await prepareNamespaces();
    redis = connectRedis();
    prefix = testPrefix("node-tools");
    store = createActionStore(redis, { prefix, ttlSeconds: 900, signer: testSigner() });
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
    // A pod with a controller: an existing owner object (no controller acts on a ConfigMap, so it stays put).
    const owner = await core().createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: OWNER, namespace: NS } },
    });
    await pod(MANAGED, NS, {}, [
      { apiVersion: "v1", kind: "ConfigMap", name: OWNER, uid: owner.metadata?.uid ?? "", controller: true },
    ]);
  });

  afterAll(async () => {
    for (const [name, namespace] of [
      [WORKER, NS],
      [MIRROR, NS],
      [SYSTEM, "kube-system"],
      [MANAGED, NS],
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
    const summary = await storedProposal(store, reply);
    expect(summary.summary).toBe(`Evict pod ${NS}/${WORKER}.`);
    expect(summary.preview).toContain("Not owned by a controller: nothing will recreate it.");
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

  it("drain_node lists exactly what it will evict and names what stays and why", async () => {
    const reply = await harness.call("drain_node", { name: NODE }, meta);
    expect(reply.isError, reply.text).toBe(false);
    const summary = await storedProposal(store, reply);
    expect(summary.summary).toBe(`Drain node ${NODE}: cordon it and evict 1 pod(s).`);
    expect(summary.preview).toContain(
      `Evicted one by one (only these; a pod that arrives later needs a new approval): ${NS}/${MANAGED}.`,
    );
    expect(summary.arguments).toMatchObject({ name: NODE, evict: [{ namespace: NS, name: MANAGED }] });
    const left = summary.preview.find((line) => line.startsWith("Left in place:"));
    expect(left).toContain(`${NS}/${MIRROR} (mirror pod (managed by the kubelet))`);
    expect(left).toContain(`kube-system/${SYSTEM} (protected namespace)`);
    // A bare pod is not evicted (nothing would recreate it) and the card says the node stays busy.
    expect(left).toContain(`${NS}/${WORKER} (no controller: nothing would recreate it)`);
    expect(summary.preview).toContain("The node will not be empty after the drain.");
    const node = await core().readNode({ name: NODE });
    expect(node.spec?.unschedulable).toBeFalsy();
  });

  it("cordon and uncordon preview the switch", async () => {
    const cordon = await harness.call("cordon_node", { name: NODE }, meta);
    expect((await storedProposal(store, cordon)).preview).toContain("spec.unschedulable: (added) true");
    // The API server's answer shows no change: nothing to approve.
    const uncordon = await harness.call("uncordon_node", { name: NODE }, meta);
    expect(uncordon.isError).toBe(true);
    expect(uncordon.text).toBe(
      `The API server's answer shows that this changes nothing in Node ${NODE}; nothing was proposed.`,
    );
    const missing = await harness.call("cordon_node", { name: "no-such-node" }, meta);
    expect(missing.isError).toBe(true);
  });

  it("skips DaemonSet, mirror, finished, terminating, bare and out-of-scope pods when draining", () => {
    const none = { protectedNamespaces: [], writableNamespaces: [] };
    const controller = { apiVersion: "apps/v1", kind: "ReplicaSet", name: "rs", uid: "u", controller: true };
    const base: Pod = {
      metadata: { namespace: "shop", name: "p", ownerReferences: [controller] },
      status: { phase: "Running" },
    };
    expect(drainSkipReason(base, none)).toBeUndefined();
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
        none,
      ),
    ).toBe("DaemonSet pod");
    expect(drainSkipReason({ ...base, status: { phase: "Succeeded" } }, none)).toBe("already finished");
    expect(
      drainSkipReason(
        { ...base, metadata: { ...base.metadata, deletionTimestamp: "2026-01-01T00:00:00Z" } },
        none,
      ),
    ).toBe("already terminating");
    expect(drainSkipReason(base, { protectedNamespaces: ["shop"], writableNamespaces: [] })).toBe(
      "protected namespace",
    );
    expect(drainSkipReason(base, { protectedNamespaces: [], writableNamespaces: ["other"] })).toBe(
      "outside the namespaces Deputy may change",
    );
    const bare = { ...base, metadata: { namespace: "shop", name: "bare" } };
    expect(drainSkipReason(bare, none)).toBe("no controller: nothing would recreate it");
  });
});
