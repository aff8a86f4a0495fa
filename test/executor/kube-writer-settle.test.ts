import { readFileSync } from "node:fs";
import { AdmissionregistrationV1Api, AppsV1Api, RbacAuthorizationV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubeApiError } from "../../core/kube/errors.ts";
import { createKubeWriter, type ClusterEndpoint } from "../../executor/kube-writer.ts";
import { freshDeployment } from "../helpers/deployments.ts";
import {
  adminKubeConfig,
  deleteNamespace,
  freshNamespace,
  loadTestEnv,
  eventually,
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
const POLICY = `deputy-settle-${process.pid}-${Date.now().toString(36)}`;

async function replicas(): Promise<number | undefined> {
  const deployment = await adminKubeConfig()
    .makeApiClient(AppsV1Api)
    .readNamespacedDeployment({ name: NAME, namespace: ns });
  return deployment.spec?.replicas;
}

/** What OpenBao binds a minted account to, made by the admin when the test says so. */
async function bind(account: string, role: "scaler" | "reader"): Promise<void> {
  const rbac = adminKubeConfig().makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRoleBinding({
    namespace: ns,
    body: {
      metadata: { name: `${role}-${account}` },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role },
      subjects: [{ kind: "ServiceAccount", name: account, namespace: ns }],
    },
  });
}

/** Until the API server's authorizer lets `account` get Deployments here. */
async function untilSeen(token: string): Promise<void> {
  const probe = createKubeWriter(cluster, token, { settleMs: 0 });
  try {
    await eventually("the binding to be seen", () =>
      probe.get(`/apis/apps/v1/namespaces/${ns}/deployments/${NAME}`).then(
        () => true,
        () => undefined,
      ),
    );
  } finally {
    probe.close();
  }
}

const path = (name = NAME): string => `/apis/apps/v1/namespaces/${ns}/deployments/${name}`;

async function failureOf(call: Promise<unknown>): Promise<KubeApiError> {
  const error = await call.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(KubeApiError);
  return error as KubeApiError;
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
  await adminKubeConfig()
    .makeApiClient(RbacAuthorizationV1Api)
    .createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: "reader" },
        rules: [{ apiGroups: ["apps"], resources: ["deployments"], verbs: ["get"] }],
      },
    });
}, 60_000);

afterAll(async () => {
  await adminKubeConfig()
    .makeApiClient(AdmissionregistrationV1Api)
    .deleteValidatingAdmissionPolicyBinding({ name: POLICY })
    .catch(() => undefined);
  await adminKubeConfig()
    .makeApiClient(AdmissionregistrationV1Api)
    .deleteValidatingAdmissionPolicy({ name: POLICY })
    .catch(() => undefined);
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

    await bind("late", "scaler");
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
  it("once the credential was accepted (a read, even a 404), a refusal is final at once", async () => {
    const token = await mintServiceAccountToken(ns, "reads", {});
    await bind("reads", "reader");
    await untilSeen(token);
    const kube = createKubeWriter(cluster, token, { settleMs: 20_000 });
    // A 404 is an answer to an authorised request: the credential is settled.
    expect((await failureOf(kube.get(path("absent")))).status).toBe(404);
    const started = Date.now();
    const refused = await failureOf(kube.patch(path(), { spec: { replicas: 4 } }, "merge"));
    expect(refused.status).toBe(403);
    // Not sent again for the settling time (20 s): the role's answer came back as it was.
    expect(Date.now() - started).toBeLessThan(10_000);
    kube.close();
  }, 60_000);

  it("an admission policy's 403 is final even for a credential just minted", async () => {
    const admission = adminKubeConfig().makeApiClient(AdmissionregistrationV1Api);
    await admission.createValidatingAdmissionPolicy({
      body: {
        metadata: { name: POLICY },
        spec: {
          failurePolicy: "Fail",
          matchConstraints: {
            resourceRules: [
              {
                apiGroups: ["apps"],
                apiVersions: ["v1"],
                operations: ["UPDATE"],
                resources: ["deployments"],
              },
            ],
          },
          validations: [
            // Answered as 403 Forbidden, like a webhook's or a quota's denial.
            {
              expression: "object.spec.replicas <= 5",
              message: "at most 5 replicas here",
              reason: "Forbidden",
            },
          ],
        },
      },
    });
    await admission.createValidatingAdmissionPolicyBinding({
      body: {
        metadata: { name: POLICY },
        spec: {
          policyName: POLICY,
          validationActions: ["Deny"],
          matchResources: { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } } },
        },
      },
    });
    // Until the API server enforces it (its own cache of policies), as the admin sees it.
    const admin = adminKubeConfig().makeApiClient(AppsV1Api);
    await eventually("the policy to be enforced", () =>
      admin
        .patchNamespacedDeployment({
          name: NAME,
          namespace: ns,
          body: [{ op: "replace", path: "/spec/replicas", value: 9 }],
          dryRun: "All",
        })
        .then(
          () => undefined,
          () => true,
        ),
    );
    const token = await mintServiceAccountToken(ns, "capped", {});
    await bind("capped", "scaler");
    await untilSeen(token);
    // A new writer: the credential has not been accepted by it yet.
    const kube = createKubeWriter(cluster, token, { settleMs: 20_000 });
    const started = Date.now();
    const denied = await failureOf(kube.patch(path(), { spec: { replicas: 9 } }, "merge"));
    expect(denied.status).toBe(403);
    expect(denied.message).toContain("at most 5 replicas here");
    expect(Date.now() - started).toBeLessThan(10_000);
    kube.close();
  }, 60_000);
});
