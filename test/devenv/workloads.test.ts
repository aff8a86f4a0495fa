import { describe, expect, it } from "vitest";
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { SEED, adminKubeConfig, eventually, freshNamespace } from "../helpers/testenv.ts";

const MERGE = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

describe("workloads on the simulated nodes", () => {
  const kc = adminKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);

  async function runningPods(ns: string, app: string): Promise<Set<string>> {
    const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: `app=${app}` });
    return new Set(
      pods.items
        .filter(
          (pod) =>
            !pod.metadata?.deletionTimestamp &&
            pod.status?.phase === "Running" &&
            pod.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
        )
        .map((pod) => pod.metadata!.uid!),
    );
  }

  it("runs a Deployment's pods, and a rollout restart replaces every one of them", async () => {
    const ns = await freshNamespace("rollout");
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: "web" },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: "web" } },
          template: {
            metadata: { labels: { app: "web" } },
            spec: { containers: [{ name: "web", image: "nginx:1.27.3" }] },
          },
        },
      },
    });
    const before = await eventually("two Ready pods", async () => {
      const uids = await runningPods(ns, "web");
      return uids.size === 2 ? uids : undefined;
    });
    const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: "app=web" });
    for (const pod of pods.items) {
      expect(["node-a", "node-b"]).toContain(pod.spec?.nodeName);
      expect(pod.status?.podIP).toMatch(/^10\.244\./);
    }

    await apps.patchNamespacedDeployment(
      {
        name: "web",
        namespace: ns,
        body: {
          spec: {
            template: {
              metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": new Date().toISOString() } },
            },
          },
        },
      },
      MERGE,
    );
    const after = await eventually(
      "the restart to replace both pods",
      async () => {
        const uids = await runningPods(ns, "web");
        const all = await core.listNamespacedPod({ namespace: ns, labelSelector: "app=web" });
        return uids.size === 2 && all.items.length === 2 && [...uids].every((uid) => !before.has(uid))
          ? uids
          : undefined;
      },
      { timeoutMs: 45_000 },
    );
    expect([...after].some((uid) => before.has(uid))).toBe(false);
    const deployment = await apps.readNamespacedDeployment({ name: "web", namespace: ns });
    expect(deployment.status?.availableReplicas).toBe(2);
  });

  it("holds an unschedulable pod Pending with the scheduler's reason", async () => {
    const ns = await freshNamespace("pending");
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: "stuck", annotations: { "testenv.deputy.dev/simulate": "pending" } },
        spec: { containers: [{ name: "app", image: "busybox:1.36" }] },
      },
    });
    const condition = await eventually("PodScheduled=False", async () => {
      const pod = await core.readNamespacedPod({ name: "stuck", namespace: ns });
      return pod.status?.conditions?.find((c) => c.type === "PodScheduled" && c.status === "False");
    });
    expect(condition.reason).toBe("Unschedulable");
    expect(condition.message).toMatch(/nodes are available/);
    const pod = await core.readNamespacedPod({ name: "stuck", namespace: ns });
    expect(pod.spec?.nodeName).toBeUndefined();
  });

  it("completes graceful deletion like a kubelet would", async () => {
    const ns = await freshNamespace("delete");
    await core.createNamespacedPod({
      namespace: ns,
      body: { metadata: { name: "doomed" }, spec: { containers: [{ name: "app", image: "busybox:1.36" }] } },
    });
    await eventually(
      "pod to run",
      async () =>
        (await core.readNamespacedPod({ name: "doomed", namespace: ns })).status?.phase === "Running",
    );
    await core.deleteNamespacedPod({ name: "doomed", namespace: ns }); // default 30 s grace
    await eventually(
      "the pod to be gone",
      async () => {
        try {
          await core.readNamespacedPod({ name: "doomed", namespace: ns });
          return false;
        } catch (error) {
          return error instanceof ApiException && error.code === 404;
        }
      },
      { timeoutMs: 10_000 },
    );
  });

  it("protects db with a PodDisruptionBudget: 0 disruptions allowed, eviction answered 429", async () => {
    const policy = kc.makeApiClient(PolicyV1Api);
    const pdb = await policy.readNamespacedPodDisruptionBudget({
      name: SEED.statefulSet.pdb,
      namespace: SEED.namespace,
    });
    expect(pdb.status?.disruptionsAllowed).toBe(0);
    expect(pdb.status?.currentHealthy).toBe(2);

    const error = await core
      .createNamespacedPodEviction({
        name: "db-0",
        namespace: SEED.namespace,
        body: { metadata: { name: "db-0", namespace: SEED.namespace } },
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(ApiException);
    expect((error as ApiException<unknown>).code).toBe(429);
    expect(String((error as ApiException<unknown>).body)).toMatch(/disruption budget db-pdb/);
    const db0 = await core.readNamespacedPod({ name: "db-0", namespace: SEED.namespace });
    expect(db0.metadata?.deletionTimestamp).toBeUndefined();
  });

  it("shows the seeded trouble: crash loop, OOM kill, image pull, Argo CD tracking, a NotReady node", async () => {
    const pods = (await core.listNamespacedPod({ namespace: SEED.namespace })).items;
    const byApp = (app: string) => pods.filter((pod) => pod.metadata?.labels?.app === app);
    const status = (app: string) => byApp(app).flatMap((pod) => pod.status?.containerStatuses ?? []);

    const crash = status("checkout")[0]!;
    expect(crash.state?.waiting?.reason).toBe("CrashLoopBackOff");
    expect(crash.lastState?.terminated?.exitCode).toBe(1);
    expect(crash.restartCount).toBeGreaterThanOrEqual(5);

    const oom = status("recommendations")[0]!;
    expect(oom.lastState?.terminated?.reason).toBe("OOMKilled");
    expect(oom.lastState?.terminated?.exitCode).toBe(137);

    const pull = status("payments").find((s) => s.state?.waiting);
    expect(pull?.state?.waiting?.reason).toBe("ImagePullBackOff");
    expect(pull?.state?.waiting?.message).toContain(SEED.imagePull.badImage);
    // The previous revision keeps serving, so a rollback has somewhere to go.
    expect(status("payments").some((s) => s.ready)).toBe(true);

    const catalog = await apps.readNamespacedDeployment({ name: "catalog", namespace: SEED.namespace });
    expect(catalog.metadata?.annotations?.["argocd.argoproj.io/tracking-id"]).toBe(
      SEED.argoManaged.trackingId,
    );
    expect(catalog.metadata?.labels?.["app.kubernetes.io/instance"]).toBe("catalog");

    const frontend = await apps.readNamespacedDeployment({ name: "frontend", namespace: SEED.namespace });
    expect(frontend.status?.availableReplicas).toBe(2);
    expect(frontend.metadata?.annotations?.[SEED.injection.annotation]).toContain(SEED.injection.text);

    const node = await core.readNode({ name: SEED.notReadyNode });
    const conditions = Object.fromEntries((node.status?.conditions ?? []).map((c) => [c.type, c.status]));
    expect(conditions).toMatchObject({ Ready: "False", MemoryPressure: "True" });
    for (const name of SEED.readyNodes) {
      const ready = await core.readNode({ name });
      expect(ready.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
      expect(ready.status?.daemonEndpoints?.kubeletEndpoint?.Port).toBeGreaterThan(0);
    }
  });
});
