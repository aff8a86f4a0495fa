import { readFileSync } from "node:fs";
import { AppsV1Api, RbacAuthorizationV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubeApiError } from "../../core/kube/errors.ts";
import { createKubeWriter, type ClusterEndpoint } from "../../executor/kube-writer.ts";
import { freshDeployment } from "../helpers/deployments.ts";
import {
  adminKubeConfig,
  deleteNamespace,
  freshNamespace,
  loadTestEnv,
  mintServiceAccountToken,
} from "../helpers/testenv.ts";

/**
 * A minted credential's binding can reach the API server's authorizer after
 * the credential itself (RBAC is read from each API server's cache; with
 * several API servers behind a load balancer, from another one's). On the
 * real API server: the write is sent before the binding exists, and the
 * binding is made a moment later, as a lagging cache would show it.
 */
let ns: string;
let cluster: ClusterEndpoint;
const NAME = "web";

async function replicas(): Promise<number | undefined> {
  const deployment = await adminKubeConfig()
    .makeApiClient(AppsV1Api)
    .readNamespacedDeployment({ name: NAME, namespace: ns });
  return deployment.spec?.replicas;
}

/** What OpenBao binds a minted account to, made by the admin when the test says so. */
async function bindScaler(account: string): Promise<void> {
  const rbac = adminKubeConfig().makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRoleBinding({
    namespace: ns,
    body: {
      metadata: { name: `scaler-${account}` },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "scaler" },
      subjects: [{ kind: "ServiceAccount", name: account, namespace: ns }],
    },
  });
}

beforeAll(async () => {
  const env = loadTestEnv();
  cluster = { server: env.server, caPem: readFileSync(env.caFile, "utf8") };
  ns = await freshNamespace("deputy-settle");
  await freshDeployment(ns, NAME);
  await adminKubeConfig()
    .makeApiClient(RbacAuthorizationV1Api)
    .createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: "scaler" },
        rules: [{ apiGroups: ["apps"], resources: ["deployments"], verbs: ["get", "patch"] }],
      },
    });
}, 60_000);

afterAll(async () => {
  if (ns) await deleteNamespace(ns);
});

describe("the executor's writer with a credential minted a moment ago", () => {
  it("sends a write again while its binding is not yet seen, and it lands once it is", async () => {
    const token = await mintServiceAccountToken(ns, "late", {});
    const kube = createKubeWriter(cluster, token, { settleMs: 20_000 });
    let settled = false;
    const write = kube
      .patch(`/apis/apps/v1/namespaces/${ns}/deployments/${NAME}`, { spec: { replicas: 2 } }, "merge")
      .finally(() => (settled = true));
    write.catch(() => undefined);
    // Refused (403) until the binding exists: nothing has changed and the write is still pending.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(settled).toBe(false);
    expect(await replicas()).toBe(1);

    await bindScaler("late");
    await write;
    expect(await replicas()).toBe(2);
    kube.close();
  }, 40_000);

  it("gives up after the settling time: a credential its role never allows fails with the API's 403", async () => {
    const token = await mintServiceAccountToken(ns, "never", {});
    const kube = createKubeWriter(cluster, token, { settleMs: 1500 });
    const started = Date.now();
    const failure = await kube
      .patch(`/apis/apps/v1/namespaces/${ns}/deployments/${NAME}`, { spec: { replicas: 5 } }, "merge")
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(failure).toBeInstanceOf(KubeApiError);
    expect((failure as KubeApiError).status).toBe(403);
    expect((failure as KubeApiError).message).toMatch(/forbidden/i);
    // It sent it again while the credential was new (a first refusal comes back within milliseconds).
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    expect(await replicas()).not.toBe(5);
    kube.close();
  }, 30_000);
});
