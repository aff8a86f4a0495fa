import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { AppsV1Api, CoreV1Api, PatchStrategy, PolicyV1Api, setHeaderOptions } from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DecisionResult, PendingActionRef } from "../../core/actions/schema.ts";
import { roleForAction } from "../../core/identity/openbao-roles.ts";
import { createActionStore, type ActionStore } from "../../core/actions/store.ts";
import { createKubeWriter, type ClusterEndpoint } from "../../executor/kube-writer.ts";
import { ActionFailed } from "../../core/actions/action-type.ts";
import { boundWrite } from "../../core/actions/bound-write.ts";
import { scaleDeployment } from "../../core/actions/types/index.ts";
import { createApprovalExecutor, type ApprovalExecutor } from "../../executor/approval-executor.ts";
import { adminKubeConfig, eventually, loadTestEnv, seededCopyOfShop, SEED } from "../helpers/testenv.ts";
import { startHarness, type Harness } from "../mcp/harness.ts";
import { alice, bob, capture, connectRedis, dropPrefix, testPrefix, testSigner } from "./support.ts";
import { createRbacBroker } from "./rbac-broker.ts";
import { ensure } from "../helpers/kube-apply.ts";
import { prepareNamespaces, testRoles } from "./write-env.ts";

/**
 * Every action type, proposed over MCP and run by the executor with a
 * credential bound to exactly its roles.yaml rules (as OpenBao would generate
 * it): what the card said is what the API server shows, and no runner needs
 * more than its role grants.
 */
const NS = "deputy-w-exec";
/** A seeded copy of shop for the StatefulSet pod behind its PodDisruptionBudget: the shared shop is never written to. */
const SEEDED = "deputy-w-runners";
// Unique names per run: pods and nodes are never deleted and re-created under the same name
// (the fake kubelet's log directories would race), and leftovers of an earlier run cannot interfere.
const RUN = randomBytes(3).toString("hex");
const NODE = `deputy-test-node-exec-${RUN}`;
const RUNNER = `a-runner-${RUN}`;
const GUARDED = `b-guarded-${RUN}`;
const BUDGET = `guarded-${RUN}`;
const LOOSE = `loose-${RUN}`;
const meta = { "deputy/requester": alice };

describe("every write action runs exactly what was proposed", () => {
  let harness: Harness;
  let redis: Redis;
  let prefix: string;
  let executor: ApprovalExecutor;
  let store: ActionStore;
  let cluster: ClusterEndpoint;
  const apps = () => adminKubeConfig().makeApiClient(AppsV1Api);
  const core = () => adminKubeConfig().makeApiClient(CoreV1Api);
  const live = () => apps().readNamespacedDeployment({ name: "svc", namespace: NS });

  /** The deployment controller has seen the latest spec (so each change is its own revision). */
  const settled = () =>
    eventually("the deployment controller to catch up", async () => {
      const d = await live();
      return d.status?.observedGeneration === d.metadata?.generation;
    });

  async function run(tool: string, args: Record<string, unknown>): Promise<DecisionResult> {
    const reply = await harness.call(tool, args, meta);
    expect(reply.isError, reply.text).toBe(false);
    const { id, digest } = reply.structured?.pendingAction as PendingActionRef;
    return executor.decide({ actionId: id, digest, approver: bob, decision: "approve" });
  }

  beforeAll(async () => {
    await prepareNamespaces();
    await seededCopyOfShop(SEEDED);
    // The disruption controller has counted both db pods: the budget allows nothing.
    await eventually(
      "db-pdb to count two healthy pods",
      async () => {
        const pdb = await adminKubeConfig()
          .makeApiClient(PolicyV1Api)
          .readNamespacedPodDisruptionBudget({ name: SEED.statefulSet.pdb, namespace: SEEDED });
        return pdb.status?.currentHealthy === 2 && pdb.status.disruptionsAllowed === 0;
      },
      { timeoutMs: 60_000 },
    );
    const env = loadTestEnv();
    redis = connectRedis();
    prefix = testPrefix("runners");
    harness = await startHarness({
      env: { DEPUTY_REDIS_PREFIX: prefix, DEPUTY_RATE_LIMIT_USER_PER_MINUTE: "1000" },
    });
    const captured = capture();
    store = createActionStore(redis, { prefix, ttlSeconds: 900, signer: testSigner() });
    cluster = { server: env.server, caPem: readFileSync(env.caFile, "utf8") };
    executor = createApprovalExecutor({
      store,
      broker: createRbacBroker(),
      roles: testRoles(),
      cluster,
      audit: captured.audit,
      logger: captured.logger,
      approvers: { slackUserIds: [bob.id], localApproverIds: [] },
      twoPersonRule: { normal: true, high: true },
      protectedNamespaces: ["kube-system"],
      clusterName: "testenv",
    });
    await apps()
      .deleteNamespacedDeployment({ name: "svc", namespace: NS })
      .catch(() => undefined);
    await eventually("old svc gone", () =>
      live().then(
        () => false,
        () => true,
      ),
    );
    await apps().createNamespacedDeployment({
      namespace: NS,
      body: {
        metadata: { name: "svc", namespace: NS },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: "svc" } },
          template: {
            metadata: { labels: { app: "svc" } },
            spec: {
              containers: [
                {
                  name: "app",
                  image: "ghcr.io/example/svc:1.0.0",
                  env: [
                    { name: "MODE", value: "fast" },
                    { name: "OLD", value: "x" },
                    { name: "TOKEN", valueFrom: { secretKeyRef: { name: "svc", key: "token" } } },
                  ],
                },
              ],
            },
          },
        },
      },
    });
  });

  afterAll(async () => {
    // Test cleanup with the admin identity (pods on a node without a kubelet never finish terminating).
    for (const name of [RUNNER, GUARDED, LOOSE]) {
      await core()
        .deleteNamespacedPod({ name, namespace: NS, gracePeriodSeconds: 0 })
        .catch(() => undefined);
    }
    await adminKubeConfig()
      .makeApiClient(PolicyV1Api)
      .deleteNamespacedPodDisruptionBudget({ name: BUDGET, namespace: NS })
      .catch(() => undefined);
    await core()
      .deleteNode({ name: NODE })
      .catch(() => undefined);
    await harness?.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it("restart, image, resources, env and rollback", async () => {
    await settled();
    const restart = await run("restart_deployment", { namespace: NS, name: "svc" });
    expect(restart.status, restart.message).toBe("succeeded");
    expect(
      (await live()).spec?.template.metadata?.annotations?.["kubectl.kubernetes.io/restartedAt"],
    ).toBeTruthy();

    await settled();
    const image = await run("set_deployment_image", {
      namespace: NS,
      name: "svc",
      container: "app",
      image: "ghcr.io/example/svc:2.0.0",
    });
    expect(image.status, image.message).toBe("succeeded");
    expect((await live()).spec?.template.spec?.containers[0]?.image).toBe("ghcr.io/example/svc:2.0.0");

    await settled();
    const resources = await run("set_deployment_resources", {
      namespace: NS,
      name: "svc",
      container: "app",
      requests: { cpu: "100m" },
      limits: { memory: "256Mi" },
    });
    expect(resources.status, resources.message).toBe("succeeded");
    expect((await live()).spec?.template.spec?.containers[0]?.resources).toEqual({
      requests: { cpu: "100m" },
      limits: { memory: "256Mi" },
    });

    await settled();
    const env = await run("set_deployment_env", {
      namespace: NS,
      name: "svc",
      container: "app",
      set: { MODE: "safe", NEW: "1" },
      remove: ["OLD"],
    });
    expect(env.status, env.message).toBe("succeeded");
    const vars = (await live()).spec?.template.spec?.containers[0]?.env ?? [];
    expect(vars.map((v) => [v.name, v.value ?? (v.valueFrom ? "ref" : undefined)])).toEqual(
      expect.arrayContaining([
        ["MODE", "safe"],
        ["NEW", "1"],
        ["TOKEN", "ref"],
      ]),
    );
    expect(vars.map((v) => v.name)).not.toContain("OLD");

    await settled();
    // Five template changes, five revisions: the previous one (4) still has OLD and not NEW.
    await eventually("a ReplicaSet per revision", async () => {
      const rs = await apps().listNamespacedReplicaSet({ namespace: NS, labelSelector: "app=svc" });
      return rs.items.length >= 5;
    });
    const rollback = await run("rollback_deployment", { namespace: NS, name: "svc" });
    expect(rollback.status, rollback.message).toBe("succeeded");
    expect(rollback.message).toBe(
      `Deployment ${NS}/svc rolled back to revision 4. The API server's answer to the write is the approved result.`,
    );
    const names = (await live()).spec?.template.spec?.containers[0]?.env?.map((v) => v.name);
    expect(names).toContain("OLD");
    expect(names).not.toContain("NEW");
  });

  it("apply_manifest creates and updates by server-side apply", async () => {
    await core()
      .deleteNamespacedConfigMap({ name: "flags", namespace: NS })
      .catch(() => undefined);
    const manifest = (value: string) =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flags\n  namespace: ${NS}\ndata:\n  feature: "${value}"\n`;
    const created = await run("apply_manifest", { manifest: manifest("on") });
    expect(created.status, created.message).toBe("succeeded");
    expect(created.action?.outcome?.kubeStatus).toBe(201);
    const updated = await run("apply_manifest", { manifest: manifest("off") });
    expect(updated.status, updated.message).toBe("succeeded");
    const cm = await core().readNamespacedConfigMap({ name: "flags", namespace: NS });
    expect(cm.data).toEqual({ feature: "off" });
    expect(
      cm.metadata?.managedFields?.some((field) => field.manager === "deputy" && field.operation === "Apply"),
    ).toBe(true);
  });

  it("cordon, uncordon, and a drain that stops at a PodDisruptionBudget", async () => {
    const kc = adminKubeConfig();
    await ensure(kc, { apiVersion: "v1", kind: "Node", metadata: { name: NODE } });
    await core()
      .patchNode({ name: NODE, body: [{ op: "add", path: "/spec/unschedulable", value: false }] })
      .catch(() => undefined);
    const cordon = await run("cordon_node", { name: NODE });
    expect(cordon.status, cordon.message).toBe("succeeded");
    expect((await core().readNode({ name: NODE })).spec?.unschedulable).toBe(true);
    const uncordon = await run("uncordon_node", { name: NODE });
    expect(uncordon.status, uncordon.message).toBe("succeeded");
    expect((await core().readNode({ name: NODE })).spec?.unschedulable).toBeFalsy();

    // Drained pods need a controller (a bare pod is left in place); an existing owner object will do.
    const owner = await core().createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: `owner-${RUN}` } },
    });
    const ownerReferences = [
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        name: `owner-${RUN}`,
        uid: owner.metadata!.uid!,
        controller: true,
      },
    ];
    for (const name of [RUNNER, GUARDED]) {
      await core().createNamespacedPod({
        namespace: NS,
        body: {
          metadata: { name, labels: { app: name }, ownerReferences },
          spec: { nodeName: NODE, containers: [{ name: "c", image: "ghcr.io/example/c:1" }] },
        },
      });
    }
    // The guarded pod runs and a budget keeps it: evicting it would break the budget.
    await core().patchNamespacedPodStatus({
      name: GUARDED,
      namespace: NS,
      body: [{ op: "add", path: "/status/phase", value: "Running" }],
    });
    await ensure(kc, {
      apiVersion: "policy/v1",
      kind: "PodDisruptionBudget",
      metadata: { name: BUDGET, namespace: NS },
      spec: { minAvailable: 1, selector: { matchLabels: { app: GUARDED } } },
    } as never);
    await eventually("budget observed", async () => {
      const pdb = await kc
        .makeApiClient(PolicyV1Api)
        .readNamespacedPodDisruptionBudget({ name: BUDGET, namespace: NS });
      return (
        pdb.status?.observedGeneration === pdb.metadata?.generation && pdb.status?.disruptionsAllowed === 0
      );
    });

    const drain = await run("drain_node", { name: NODE });
    expect(drain.status).toBe("failed");
    expect(drain.action?.outcome?.kubeStatus).toBe(429);
    expect(drain.message).toMatch(
      new RegExp(
        `^Drain of node ${NODE} stopped: Eviction of pod ${NS}/${GUARDED} blocked by PodDisruptionBudget ${NS}/${BUDGET}`,
      ),
    );
    expect(drain.message).toContain(
      `The node stays cordoned. Done: cordon node ${NODE}, evict ${NS}/${RUNNER}. Failed: evict ${NS}/${GUARDED}.`,
    );
    expect((await core().readNode({ name: NODE })).spec?.unschedulable).toBe(true);
    const guarded = await core().readNamespacedPod({ name: GUARDED, namespace: NS });
    expect(guarded.metadata?.deletionTimestamp).toBeUndefined();
    const runner = await core()
      .readNamespacedPod({ name: RUNNER, namespace: NS })
      .then(
        (p) => p.metadata?.deletionTimestamp ?? "terminating-or-gone",
        () => "gone",
      );
    expect(runner).toBeTruthy();
  });

  it("delete_pod evicts through the Eviction API, and a PodDisruptionBudget with 0 disruptions blocks it", async () => {
    await core().createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: LOOSE },
        spec: { containers: [{ name: "c", image: "ghcr.io/example/c:1" }] },
      },
    });
    const evicted = await run("delete_pod", { namespace: NS, name: LOOSE });
    expect(evicted.status, evicted.message).toBe("succeeded");
    expect(evicted.message).toBe(
      `Pod ${NS}/${LOOSE} evicted; it has no controller, so nothing will recreate it.`,
    );
    expect(evicted.message).not.toContain("controller will replace");
    expect(evicted.action?.outcome?.kubeStatus).toBe(201);
    const gone = await core()
      .readNamespacedPod({ name: LOOSE, namespace: NS })
      .then(
        (p) => Boolean(p.metadata?.deletionTimestamp),
        () => true,
      );
    expect(gone).toBe(true);

    const db = await core().readNamespacedPod({ name: "db-0", namespace: SEEDED });
    const blocked = await run("delete_pod", { namespace: SEEDED, name: "db-0" });
    expect(blocked.status).toBe("failed");
    expect(blocked.action?.outcome?.kubeStatus).toBe(429);
    expect(blocked.message).toMatch(
      new RegExp(
        `^Eviction of pod ${SEEDED}/db-0 blocked by PodDisruptionBudget ${SEEDED}/db-pdb: The disruption budget db-pdb needs 2 healthy pods and has 2 currently\\. Nothing was deleted`,
      ),
    );
    const still = await core().readNamespacedPod({ name: "db-0", namespace: SEEDED });
    expect(still.metadata?.uid).toBe(db.metadata?.uid);
    expect(still.metadata?.deletionTimestamp).toBeUndefined();
  });

  /** Run a stored scale action's runner directly, with a credential of its role and this Kubernetes client. */
  async function runScale(
    id: string,
    wrap: (real: ReturnType<typeof createKubeWriter>) => ReturnType<typeof createKubeWriter>,
  ): Promise<unknown> {
    const action = (await store.get(id))!;
    return createRbacBroker()
      .withCredential(
        { role: roleForAction(testRoles(), "scale_deployment"), namespace: NS },
        async (credential) => {
          const real = createKubeWriter(cluster, credential.token);
          const kube = wrap(real);
          const args = scaleDeployment.args.parse(action.arguments);
          const evidence = scaleDeployment.evidence.parse(action.evidence);
          try {
            return await scaleDeployment.run({
              kube,
              action,
              args,
              evidence,
              effect: action.effect,
              writeApproved: () =>
                boundWrite(
                  { kube, action, effect: action.effect },
                  scaleDeployment.request!(args, evidence, action.target),
                ),
              protectedNamespaces: [],
              logger: capture().logger,
              step: (_name, work) => work(),
            });
          } finally {
            real.close();
          }
        },
      )
      .catch((e: unknown) => e);
  }

  it("a field another manager changed after the approval makes the run refuse, and nothing is written", async () => {
    const reply = await harness.call("scale_deployment", { namespace: NS, name: "svc", replicas: 4 }, meta);
    const { id } = reply.structured?.pendingAction as PendingActionRef;
    const before = (await live()).spec?.replicas;
    // Another manager changes what the approver saw (a label), after the proposal, before the run.
    const label = (value: string | null) =>
      apps().patchNamespacedDeployment(
        { name: "svc", namespace: NS, body: { metadata: { labels: { touched: value } } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
    await label(RUN);
    const error = await runScale(id, (real) => real);
    await label(null);
    expect(error).toBeInstanceOf(ActionFailed);
    expect((error as ActionFailed).kubeStatus).toBe(409);
    expect((error as Error).message).toBe(
      `Deployment ${NS}/svc changed since it was approved (metadata.labels.touched), so the change shown is no longer the change that would be made; nothing was done. Propose it again to approve the current one.`,
    );
    expect((await live()).spec?.replicas).toBe(before);
  });

  it("an answer that differs from the approved one (a webhook that now mutates differently) refuses, and nothing is written", async () => {
    const reply = await harness.call("scale_deployment", { namespace: NS, name: "svc", replicas: 6 }, meta);
    const { id } = reply.structured?.pendingAction as PendingActionRef;
    const before = (await live()).spec?.replicas;
    const writes: string[] = [];
    const error = await runScale(id, (real) => ({
      ...real,
      send: async (request, options) => {
        writes.push(options?.dryRun ? "dry run" : "write");
        const answer = await real.send(request, options);
        // What a mutating webhook installed after the approval would add to the object.
        if (!options?.dryRun) return answer;
        const object = answer.object as { metadata: { labels?: Record<string, string> } };
        return {
          ...answer,
          object: {
            ...object,
            metadata: { ...object.metadata, labels: { ...object.metadata.labels, injected: "sidecar" } },
          },
        };
      },
    }));
    expect(error).toBeInstanceOf(ActionFailed);
    expect((error as Error).message).toBe(
      `Deployment ${NS}/svc: the result would differ from what was approved (metadata.labels.injected); nothing was done. Propose the change again to approve the current result.`,
    );
    expect(writes).toEqual(["dry run"]);
    expect((await live()).spec?.replicas).toBe(before);
  });

  it("a status update between the repeated dry run and the write is not a change to what was approved: the write goes through", async () => {
    const reply = await harness.call("scale_deployment", { namespace: NS, name: "svc", replicas: 5 }, meta);
    const { id } = reply.structured?.pendingAction as PendingActionRef;
    const sends: string[] = [];
    let statusTouched = false;
    const outcome = await runScale(id, (real) => ({
      ...real,
      send: async (request, options) => {
        sends.push(options?.dryRun ? "dry run" : "write");
        const answer = await real.send(request, options);
        // Once, right after the dry run: what the deployment controller does all the time.
        if (options?.dryRun && !statusTouched) {
          statusTouched = true;
          await apps().patchNamespacedDeploymentStatus({
            name: "svc",
            namespace: NS,
            body: [{ op: "replace", path: "/status/observedGeneration", value: 1000 + (Date.now() % 1000) }],
          });
        }
        return answer;
      },
    }));
    expect(statusTouched).toBe(true);
    // The first write met the status update (409 on the dry run's resourceVersion); the second round went through.
    expect(sends).toEqual(["dry run", "write", "dry run", "write"]);
    expect(outcome).toMatchObject({ value: { kubeStatus: 200 } });
    expect((await live()).spec?.replicas).toBe(5);
  });
});
