import { randomBytes } from "node:crypto";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createActionStore, type ActionStore } from "../../core/actions/store.ts";
import { createLogger } from "../../core/observability/logger.ts";
import { createApprovalExecutor } from "../../executor/approval-executor.ts";
import {
  createCredentialBroker,
  type CredentialBroker,
  type JitCredential,
} from "../../executor/credential-broker.ts";
import { ignoredSchema, OpenBaoError } from "../../executor/openbao-client.ts";
import { startDelayProxy, type DelayProxy } from "../faults/helpers/delay-proxy.ts";
import { adminKubeConfig, eventually, loadTestEnv } from "../helpers/testenv.ts";
import { alice, bob, capture, connectRedis, dropPrefix, testPrefix, testSigner } from "./support.ts";
import { ensure } from "../helpers/kube-apply.ts";
import { prepareWriteEnv, type WriteEnv } from "./write-env.ts";

/**
 * A drain that takes longer than the executor's 60 s OpenBao token, against
 * the real API server (every request slowed by a TCP proxy) and the real
 * OpenBao API: the lease it runs on is created by that token, and OpenBao
 * revokes a lease when its token ends. Renewing the token while the action
 * runs keeps the credential alive to the end; the lease is revoked then, and
 * the Kubernetes token is refused afterwards.
 */
const NS = "deputy-w-broker";
const RUN = randomBytes(3).toString("hex");
/** Each request waits this long in the proxy: ten evictions and the node's calls take over 60 s. */
const DELAY_MS = 5_500;
const PODS = 10;

interface Drain {
  node: string;
  pods: { namespace: string; name: string; uid: string }[];
}

async function createDrainTarget(label: string, pods: number): Promise<Drain> {
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  const node = `deputy-test-node-long-${label}-${RUN}`;
  await ensure(adminKubeConfig(), { apiVersion: "v1", kind: "Node", metadata: { name: node } });
  const owner = await core.createNamespacedConfigMap({
    namespace: NS,
    body: { metadata: { name: `long-owner-${label}-${RUN}` } },
  });
  const created: Drain["pods"] = [];
  for (let i = 0; i < pods; i++) {
    const pod = await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: {
          name: `long-${label}-${RUN}-${i}`,
          ownerReferences: [
            {
              apiVersion: "v1",
              kind: "ConfigMap",
              name: owner.metadata!.name!,
              uid: owner.metadata!.uid!,
              controller: true,
            },
          ],
        },
        spec: { nodeName: node, containers: [{ name: "c", image: "ghcr.io/example/c:1" }] },
      },
    });
    created.push({ namespace: NS, name: pod.metadata!.name!, uid: pod.metadata!.uid! });
  }
  return { node, pods: created };
}

describe("a drain that outlives the executor's 60 s OpenBao token", () => {
  let env: WriteEnv;
  let redis: Redis;
  let prefix: string;
  let store: ActionStore;
  let proxy: DelayProxy;
  const nodes: string[] = [];

  beforeAll(async () => {
    env = await prepareWriteEnv();
    redis = connectRedis();
    prefix = testPrefix("long-drain");
    store = createActionStore(redis, { prefix, ttlSeconds: 900, signer: testSigner() });
    proxy = await startDelayProxy(new URL(loadTestEnv().server), DELAY_MS);
  });

  afterAll(async () => {
    await proxy?.close();
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    for (const node of nodes) await core.deleteNode({ name: node }).catch(() => undefined);
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  function executorWith(broker: CredentialBroker, maxActionMs?: number) {
    const captured = capture();
    return createApprovalExecutor({
      store,
      broker,
      roles: env.roles,
      cluster: { server: proxy.url, caPem: env.cluster.caPem },
      audit: captured.audit,
      logger: captured.logger,
      approvers: { slackUserIds: [bob.id], localApproverIds: [] },
      twoPersonRule: { normal: true, high: true },
      protectedNamespaces: ["kube-system"],
      clusterName: "testenv",
      kubeRetry: { attempts: 1, baseMs: 1, capMs: 1 },
      ...(maxActionMs ? { maxActionMs } : {}),
    });
  }

  function brokerWith(seen: JitCredential[], renewEveryMs?: number): CredentialBroker {
    return createCredentialBroker({
      openbao: env.openbao,
      logger: createLogger({ level: "silent" }),
      authMount: env.authMount,
      authRole: env.authRole,
      secretsMount: env.secretsMount,
      jwtPath: env.jwtPath,
      onCredential: (credential) => seen.push({ ...credential }),
      ...(renewEveryMs ? { renewEveryMs } : {}),
    });
  }

  async function proposeDrain(drain: Drain) {
    const node = await adminKubeConfig().makeApiClient(CoreV1Api).readNode({ name: drain.node });
    return store.create({
      cluster: "testenv",
      tool: "drain_node",
      arguments: { name: drain.node, evict: drain.pods },
      target: { kind: "Node", name: drain.node, uid: node.metadata?.uid ?? "" },
      evidence: { alreadyCordoned: false, leave: [] },
      risk: { level: "high", flags: [] },
      requester: alice,
    });
  }

  async function leaseExists(leaseId: string): Promise<boolean> {
    return env.openbao
      .request("PUT", "sys/leases/lookup", {
        token: loadTestEnv().baoRootToken,
        body: { lease_id: leaseId },
        schema: ignoredSchema,
      })
      .then(
        () => true,
        (error: unknown) => {
          if (error instanceof OpenBaoError && error.status === 400) return false;
          throw error;
        },
      );
  }

  async function apiStatusWith(token: string): Promise<number> {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        { name: "c", server: env.cluster.server, caData: Buffer.from(env.cluster.caPem!).toString("base64") },
      ],
      users: [{ name: "u", token }],
      contexts: [{ name: "c", cluster: "c", user: "u" }],
      currentContext: "c",
    });
    return kc
      .makeApiClient(CoreV1Api)
      .readNode({ name: nodes[0]! })
      .then(
        () => 200,
        (error: { code?: number }) => error.code ?? 0,
      );
  }

  it.concurrent(
    "completes past 60 s on a renewed token, then revokes the lease and the token is refused",
    async () => {
      const drain = await createDrainTarget("renewed", PODS);
      nodes.push(drain.node);
      const seen: JitCredential[] = [];
      const broker = brokerWith(seen);
      const action = await proposeDrain(drain);
      const started = performance.now();
      const result = await executorWith(broker).decide({
        actionId: action.id,
        digest: action.digest,
        approver: bob,
        decision: "approve",
      });
      const elapsedMs = performance.now() - started;

      expect(result.status, result.message).toBe("succeeded");
      expect(elapsedMs).toBeGreaterThan(60_000);
      expect(result.message).toContain(`evicted ${PODS} pod(s)`);
      expect(broker.stats().renewals).toBeGreaterThanOrEqual(2);
      expect(broker.stats().logins).toBe(1);

      // Sized to the action: 60 s + 60 s per pod, plus the revocation margin.
      const [credential] = seen;
      expect(credential).toBeDefined();
      expect(result.action?.outcome?.leaseId).toBe(credential!.leaseId);
      expect(await leaseExists(credential!.leaseId)).toBe(false);
      // Refused at once (its binding is gone); and within the API server's 10 s token-cache
      // window the token no longer even authenticates (its account is deleted).
      expect([401, 403]).toContain(await apiStatusWith(credential!.token));
      await eventually(
        "the revoked token to be unknown to the API server",
        async () => (await apiStatusWith(credential!.token)) === 401,
        { timeoutMs: 30_000, intervalMs: 1000 },
      );
    },
    240_000,
  );

  it.concurrent(
    "without renewals the lease dies with the 60 s token mid-drain (what the renewal prevents)",
    async () => {
      const drain = await createDrainTarget("unrenewed", PODS);
      nodes.push(drain.node);
      const seen: JitCredential[] = [];
      const broker = brokerWith(seen, 3_600_000);
      const action = await proposeDrain(drain);
      const result = await executorWith(broker).decide({
        actionId: action.id,
        digest: action.digest,
        approver: bob,
        decision: "approve",
      });
      expect(result.status).toBe("failed");
      // OpenBao revoked the lease when the token expired: the binding and account are gone.
      expect([401, 403]).toContain(result.action?.outcome?.kubeStatus);
      expect(broker.stats().renewals).toBe(0);
      const evicted = (await store.steps(action.id)).filter(
        (step) => step.status === "done" && step.step.startsWith("evict "),
      );
      expect(evicted.length).toBeLessThan(PODS);
    },
    240_000,
  );

  it.concurrent(
    "stops at its deadline and reports failed with what it did and did not do",
    async () => {
      const drain = await createDrainTarget("deadline", 4);
      nodes.push(drain.node);
      const seen: JitCredential[] = [];
      const broker = brokerWith(seen);
      const action = await proposeDrain(drain);
      const result = await executorWith(broker, 30_000).decide({
        actionId: action.id,
        digest: action.digest,
        approver: bob,
        decision: "approve",
      });
      expect(result.status).toBe("failed");
      expect(result.message).toMatch(
        /^Timed out: the action ran past its deadline of 30 s and was stopped; its credential was revoked\. /,
      );
      expect(result.message).toContain(`Done: cordon node ${drain.node}`);
      expect(result.message).toMatch(/Not done: evict /);
      expect(await leaseExists(seen[0]!.leaseId)).toBe(false);
    },
    240_000,
  );
});
