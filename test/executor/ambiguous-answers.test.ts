import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { AppsV1Api, CoreV1Api } from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DecisionResult, PendingActionRef } from "../../core/actions/schema.ts";
import { createActionStore, type ActionStore } from "../../core/actions/store.ts";
import { createApprovalExecutor, type ApprovalExecutor } from "../../executor/approval-executor.ts";
import { adminKubeConfig, eventually, loadTestEnv } from "../helpers/testenv.ts";
import { startHarness, type Harness } from "../mcp/harness.ts";
import { startAnswerProxy, type AnswerProxy } from "./answer-proxy.ts";
import { createRbacBroker } from "./rbac-broker.ts";
import { alice, bob, capture, connectRedis, dropPrefix, testPrefix, testSigner } from "./support.ts";
import { ensure } from "../helpers/kube-apply.ts";
import { prepareNamespaces, testRoles } from "./write-env.ts";

/**
 * What the executor says when Kubernetes' answer is not an answer: a write
 * the API server applied whose reply was replaced by a 500, one it never saw,
 * one whose reply was lost and that cannot be read back, a credential revoked
 * in the middle of a drain, a connection cut after an eviction was sent. The
 * real API server acts; a proxy in front of it changes only what the
 * executor hears.
 */
const NS = "deputy-w-exec";
const RUN = randomBytes(3).toString("hex");
const DEPLOYMENT = `ambiguous-${RUN}`;
const NODE = `deputy-test-node-ambiguous-${RUN}`;
const meta = { "deputy/requester": alice };

describe("an answer that is lost is unknown until read back; a stopped drain says what it did", () => {
  let harness: Harness;
  let redis: Redis;
  let prefix: string;
  let store: ActionStore;
  let executor: ApprovalExecutor;
  let proxy: AnswerProxy;
  const apps = () => adminKubeConfig().makeApiClient(AppsV1Api);
  const core = () => adminKubeConfig().makeApiClient(CoreV1Api);
  const replicas = async () =>
    (await apps().readNamespacedDeployment({ name: DEPLOYMENT, namespace: NS })).spec?.replicas;

  async function run(tool: string, args: Record<string, unknown>): Promise<DecisionResult> {
    const reply = await harness.call(tool, args, meta);
    expect(reply.isError, reply.text).toBe(false);
    const { id, digest } = reply.structured?.pendingAction as PendingActionRef;
    return executor.decide({ actionId: id, digest, approver: bob, decision: "approve" });
  }

  const scalePatch = (method: string, path: string): boolean =>
    method === "PATCH" && path === `/apis/apps/v1/namespaces/${NS}/deployments/${DEPLOYMENT}`;
  /**
   * Whether the request at `index` of what the proxy saw is the write itself.
   * A bound write reads the object, sends the PATCH as a dry run (?dryRun=All,
   * a query the proxy does not show), and only if that answers the approved
   * result sends the same PATCH for real: the write is a PATCH right after
   * another. A dry run that fails starts a new round with a read.
   */
  const isWrite = (index: number): boolean => {
    const [before, request] = [proxy.seen[index - 1], proxy.seen[index]];
    return (
      !!before &&
      !!request &&
      scalePatch(request.method, request.path) &&
      scalePatch(before.method, before.path)
    );
  };
  /** The one real write was sent after its dry run passed, and its lost answer was followed by a read. */
  const expectOneWriteAfterItsDryRunThenReadBack = (): void => {
    const calls = deploymentCalls();
    expect(
      calls.filter((call) => call === "PATCH"),
      calls.join(" "),
    ).toHaveLength(1);
    const write = calls.indexOf("PATCH");
    expect(calls.slice(write - 1, write + 2), calls.join(" ")).toEqual(["PATCH?dryRun", "PATCH", "GET"]);
  };
  /**
   * Nothing changes the Deployment any more (the controllers are done with its
   * last change), so neither the proposal's dry run nor the executor's, each on
   * the version read just before, races a status update.
   */
  const settled = (): Promise<unknown> =>
    eventually("the Deployment to stop changing", async () => {
      const read = () => apps().readNamespacedDeployment({ name: DEPLOYMENT, namespace: NS });
      const first = await read();
      if (first.status?.observedGeneration !== first.metadata?.generation) return false;
      await new Promise((resolve) => setTimeout(resolve, 500));
      return (await read()).metadata?.resourceVersion === first.metadata?.resourceVersion;
    });
  /** The proxy's verdict is asked with the request just seen last. */
  const writeNow = (): boolean => isWrite(proxy.seen.length - 1);
  /** What the executor sent about the Deployment, dry runs as "PATCH?dryRun". */
  const deploymentCalls = (): string[] =>
    proxy.seen.flatMap((request, index) =>
      request.path === `/apis/apps/v1/namespaces/${NS}/deployments/${DEPLOYMENT}`
        ? [scalePatch(request.method, request.path) && !isWrite(index) ? "PATCH?dryRun" : request.method]
        : [],
    );

  beforeAll(async () => {
    await prepareNamespaces();
    const env = loadTestEnv();
    redis = connectRedis();
    prefix = testPrefix("ambiguous");
    harness = await startHarness({
      env: { DEPUTY_REDIS_PREFIX: prefix, DEPUTY_RATE_LIMIT_USER_PER_MINUTE: "1000" },
    });
    store = createActionStore(redis, { prefix, ttlSeconds: 900, signer: testSigner() });
    proxy = await startAnswerProxy({ server: env.server, caPem: readFileSync(env.caFile, "utf8") });
    const captured = capture();
    executor = createApprovalExecutor({
      store,
      broker: createRbacBroker(),
      roles: testRoles(),
      cluster: proxy.cluster,
      audit: captured.audit,
      logger: captured.logger,
      approvers: { slackUserIds: [bob.id], localApproverIds: [] },
      twoPersonRule: { normal: true, high: true },
      protectedNamespaces: ["kube-system"],
      clusterName: "testenv",
      kubeRetry: { attempts: 2, baseMs: 10, capMs: 20 },
    });
    await apps().createNamespacedDeployment({
      namespace: NS,
      body: {
        metadata: { name: DEPLOYMENT, namespace: NS },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: DEPLOYMENT } },
          template: {
            metadata: { labels: { app: DEPLOYMENT } },
            spec: { containers: [{ name: "app", image: "ghcr.io/example/app:1.0.0" }] },
          },
        },
      },
    });
  });

  afterAll(async () => {
    await proxy?.close();
    await harness?.close();
    await apps()
      .deleteNamespacedDeployment({ name: DEPLOYMENT, namespace: NS })
      .catch(() => undefined);
    await core()
      .deleteNode({ name: NODE })
      .catch(() => undefined);
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it("reports a PATCH the API server applied, whose answer was replaced by a 500, as done", async () => {
    proxy.setRule(() => (writeNow() ? { kind: "replace", status: 500 } : { kind: "forward" }));
    await settled();
    proxy.seen.length = 0;
    const result = await run("scale_deployment", { namespace: NS, name: DEPLOYMENT, replicas: 2 });
    expectOneWriteAfterItsDryRunThenReadBack();
    expect(await replicas()).toBe(2);
    expect(result.status, result.message).toBe("succeeded");
    expect(result.message).toContain("scaled from 1 to 2");
    // Read back after the lost answer, the object is the approved result.
    expect(result.message).toContain("The API server's answer to the write is the approved result.");
    expect(result.message).not.toMatch(/refused/);
  });

  it("reports a PATCH that never reached the API server, answered 500, as not applied after reading it back", async () => {
    proxy.setRule(() => (writeNow() ? { kind: "answer", status: 500 } : { kind: "forward" }));
    await settled();
    proxy.seen.length = 0;
    const result = await run("scale_deployment", { namespace: NS, name: DEPLOYMENT, replicas: 3 });
    expectOneWriteAfterItsDryRunThenReadBack();
    expect(await replicas()).toBe(2);
    expect(result.status).toBe("failed");
    expect(result.message).toContain("was lost (500");
    expect(result.message).toContain("read back with the action's credential, it was not applied");
    expect(result.message).not.toMatch(/refused/);
  });

  it("says the outcome cannot be known when the answer was lost and the object cannot be read back", async () => {
    proxy.setRule(({ method, path }) => {
      if (writeNow()) return { kind: "replace", status: 500 };
      // Once the write is sent, reads of it fail too (an API server losing its etcd).
      const sent = proxy.seen.some((_, index) => isWrite(index));
      if (sent && method === "GET" && path.endsWith(`/deployments/${DEPLOYMENT}`))
        return { kind: "answer", status: 503 };
      return { kind: "forward" };
    });
    await settled();
    proxy.seen.length = 0;
    const result = await run("scale_deployment", { namespace: NS, name: DEPLOYMENT, replicas: 4 });
    expectOneWriteAfterItsDryRunThenReadBack();
    expect(await replicas()).toBe(4);
    expect(result.status).toBe("failed");
    expect(result.message).toMatch(/^The outcome of the change is unknown: /);
    expect(result.message).toContain("It may or may not have been applied");
    expect(result.message).not.toMatch(/refused|nothing was (done|changed)/i);
  });

  describe("a drain", () => {
    const pods = ["a", "b", "c"].map((letter) => `${letter}-drained-${RUN}`);
    const podPath = (name: string): string => `/api/v1/namespaces/${NS}/pods/${name}/eviction`;
    const terminating = async (name: string): Promise<boolean> =>
      core()
        .readNamespacedPod({ name, namespace: NS })
        .then(
          (p) => p.metadata?.deletionTimestamp !== undefined,
          () => true,
        );

    async function podsOnNode(node: string, names: readonly string[]): Promise<void> {
      await ensure(adminKubeConfig(), { apiVersion: "v1", kind: "Node", metadata: { name: node } });
      const owner = await core().createNamespacedConfigMap({
        namespace: NS,
        body: { metadata: { name: `owner-${node}` } },
      });
      for (const name of names) {
        await core().createNamespacedPod({
          namespace: NS,
          body: {
            metadata: {
              name,
              ownerReferences: [
                {
                  apiVersion: "v1",
                  kind: "ConfigMap",
                  name: `owner-${node}`,
                  uid: owner.metadata!.uid!,
                  controller: true,
                },
              ],
            },
            spec: { nodeName: node, containers: [{ name: "c", image: "ghcr.io/example/c:1" }] },
          },
        });
      }
    }

    it("stopped by a revoked credential (401) lists what was done and what was not", async () => {
      await podsOnNode(NODE, pods);
      proxy.setRule(({ method, path }) =>
        method === "POST" && path === podPath(pods[1]!)
          ? { kind: "answer", status: 401, message: "Unauthorized" }
          : { kind: "forward" },
      );
      const result = await run("drain_node", { name: NODE });
      expect(result.status).toBe("failed");
      expect(result.message).toContain(`Kubernetes refused the step "evict ${NS}/${pods[1]}" (401`);
      expect(result.message).toContain(`Done: cordon node ${NODE}, evict ${NS}/${pods[0]}.`);
      expect(result.message).toContain(`Failed: evict ${NS}/${pods[1]}.`);
      expect(result.message).toContain(`Not done: evict ${NS}/${pods[2]}.`);
      expect(await terminating(pods[0]!)).toBe(true);
      expect(await terminating(pods[1]!)).toBe(false);
      expect(await terminating(pods[2]!)).toBe(false);
      expect((await core().readNode({ name: NODE })).spec?.unschedulable).toBe(true);
    });

    it("whose connection is cut after an eviction was sent reads the pod back and goes on", async () => {
      const node = `${NODE}-cut`;
      const cut = ["a", "b"].map((letter) => `${letter}-cut-${RUN}`);
      await podsOnNode(node, cut);
      proxy.setRule(({ method, path }) =>
        method === "POST" && path === podPath(cut[0]!) ? { kind: "cut" } : { kind: "forward" },
      );
      try {
        const result = await run("drain_node", { name: node });
        expect(result.status, result.message).toBe("succeeded");
        expect(result.message).toContain(`evicted 2 pod(s) (${NS}/${cut[0]}, ${NS}/${cut[1]})`);
        await eventually("both pods terminating", async () =>
          (await Promise.all(cut.map(terminating))).every(Boolean),
        );
      } finally {
        await core()
          .deleteNode({ name: node })
          .catch(() => undefined);
      }
    });
  });
});
