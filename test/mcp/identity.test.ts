import { CoreV1Api, AppsV1Api, ApiException, type KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKubeClients } from "../../core/kube/client.ts";
import { isKubeApiError } from "../../core/kube/errors.ts";
import { adminKubeConfig } from "../helpers/testenv.ts";
import { readerKubeConfig, startHarness, type Harness } from "./harness.ts";

/**
 * Invariant 3: the read identity (a service account bound to the
 * deputy-reader ClusterRole from manifests/) can read what the tools need,
 * gets 403 on writes and on Secrets, and get_resource refuses Secrets itself
 * before any API call.
 */
let reader: KubeConfig;
let h: Harness;

beforeAll(async () => {
  reader = await readerKubeConfig();
  h = await startHarness({ kubeConfig: reader });
  await adminKubeConfig()
    .makeApiClient(CoreV1Api)
    .createNamespacedSecret({
      namespace: "shop",
      body: { metadata: { name: "identity-test" }, stringData: { k: "v" } },
    })
    .catch((error: unknown) => {
      if (!(error instanceof ApiException && error.code === 409)) throw error;
    });
});

afterAll(async () => {
  await h?.close();
});

async function status(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 200;
  } catch (error) {
    if (error instanceof ApiException) return error.code;
    if (isKubeApiError(error)) return error.status;
    throw error;
  }
}

describe("deputy-reader", () => {
  it("is refused writes by the real API server (403)", async () => {
    const core = reader.makeApiClient(CoreV1Api);
    const apps = reader.makeApiClient(AppsV1Api);
    const pods = await core.listNamespacedPod({ namespace: "shop" });
    const pod = pods.items[0]!.metadata!.name!;
    expect(await status(core.deleteNamespacedPod({ namespace: "shop", name: pod }))).toBe(403);
    expect(
      await status(
        apps.patchNamespacedDeploymentScale({
          namespace: "shop",
          name: "frontend",
          body: [{ op: "replace", path: "/spec/replicas", value: 0 }],
        }),
      ),
    ).toBe(403);
    expect(
      await status(
        core.createNamespacedPodEviction({
          namespace: "shop",
          name: pod,
          body: { metadata: { name: pod, namespace: "shop" } },
        }),
      ),
    ).toBe(403);
  });

  it("is refused Secrets by the real API server (403), list and get", async () => {
    const core = reader.makeApiClient(CoreV1Api);
    expect(await status(core.listNamespacedSecret({ namespace: "shop" }))).toBe(403);
    expect(await status(core.readNamespacedSecret({ namespace: "shop", name: "identity-test" }))).toBe(403);
    const raw = createKubeClients(reader);
    expect(await status(raw.get("/api/v1/secrets"))).toBe(403);
    raw.close();
  });

  it("get_resource and kubectl refuse Secrets before any API call", async () => {
    for (const [tool, args] of [
      ["get_resource", { kind: "secret", name: "identity-test", namespace: "shop" }],
      ["get_resource", { kind: "Secrets", name: "identity-test", namespace: "shop" }],
      ["get_resource", { kind: "secrets.v1", name: "identity-test", namespace: "shop" }],
      ["kubectl", { command: "get secrets -n shop" }],
      ["kubectl", { command: "get secret/identity-test -n shop -o yaml" }],
      ["kubectl", { command: "describe secret identity-test -n shop" }],
    ] as const) {
      const before = h.requests.length;
      const reply = await h.call(tool, args);
      expect(reply.isError, JSON.stringify(args)).toBe(true);
      expect(reply.text).toMatch(/Secrets are never read by Deputy/);
      expect(h.requests.length, JSON.stringify(args)).toBe(before);
    }
    const denials = h.audit.filter((r) => r.rule === "no-secrets");
    expect(denials.length).toBe(6);
  });

  it("serves every read tool under this identity", async () => {
    for (const [tool, args] of [
      ["list_namespaces", {}],
      ["list_pods", { namespace: "shop" }],
      ["get_events", { namespace: "shop" }],
      ["list_deployments", {}],
      ["show_unhealthy_nodes", {}],
      ["troubleshoot_node", { name: "node-a" }],
      ["troubleshoot_pod", { namespace: "shop", name: "checkout" }],
      ["describe_deployment", { namespace: "shop", name: "frontend" }],
      ["get_resource", { kind: "configmap", name: "kube-root-ca.crt", namespace: "shop" }],
      ["kubectl", { command: "get pdb,sts,svc,endpoints,rs,ds,jobs -n shop" }],
    ] as const) {
      const reply = await h.call(tool, args);
      expect(reply.isError, `${tool}: ${reply.text}`).toBe(false);
    }
    expect(h.requests.every((r) => r.status !== 403)).toBe(true);
  });
});
