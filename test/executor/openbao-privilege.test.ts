import { randomBytes } from "node:crypto";
import {
  ApiException,
  AuthorizationV1Api,
  CoreV1Api,
  RbacAuthorizationV1Api,
  type KubeConfig,
} from "@kubernetes/client-node";
import { beforeAll, describe, expect, it } from "vitest";
import { ACTION_ROLE_PREFIX } from "../../core/identity/openbao-roles.ts";
import { adminKubeConfig, serviceAccountKubeConfig } from "../helpers/testenv.ts";
import {
  EXECUTOR_NAMESPACE,
  EXECUTOR_SA,
  JIT_NAMESPACE,
  OPENBAO_ACCOUNT,
  OPENBAO_USER,
  prepareWriteEnv,
  type WriteEnv,
} from "./write-env.ts";

/**
 * What OpenBao's own Kubernetes account may do, asked of the real API server:
 * SubjectAccessReviews for what RBAC decides, and real requests made with its
 * token for what only the admission guard (rbac/openbao-guard.yaml) decides,
 * because the names the secrets engine generates are random.
 */

const NS = "shop";
const RBAC_GROUP = "rbac.authorization.k8s.io";

interface Access {
  verb: string;
  resource: string;
  group?: string;
  subresource?: string;
  name?: string;
  namespace?: string;
}

async function allowed(user: string, access: Access): Promise<boolean> {
  const api = adminKubeConfig().makeApiClient(AuthorizationV1Api);
  const review = await api.createSubjectAccessReview({
    body: {
      spec: {
        user,
        groups: [
          "system:serviceaccounts",
          `system:serviceaccounts:${user.split(":")[2]}`,
          "system:authenticated",
        ],
        resourceAttributes: {
          verb: access.verb,
          resource: access.resource,
          group: access.group ?? "",
          ...(access.subresource ? { subresource: access.subresource } : {}),
          ...(access.name ? { name: access.name } : {}),
          ...(access.namespace ? { namespace: access.namespace } : {}),
        },
      },
    },
  });
  return review.status?.allowed === true;
}

function statusOf(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

async function refused(call: Promise<unknown>): Promise<{ status: number | undefined; message: string }> {
  const error = await call.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error, "the request was allowed").toBeDefined();
  return { status: statusOf(error), message: String((error as ApiException<string>).body ?? error) };
}

const suffix = (): string => randomBytes(4).toString("hex");

describe("OpenBao's Kubernetes account holds no standing write power", () => {
  let env: WriteEnv;
  let openbao: KubeConfig;
  beforeAll(async () => {
    env = await prepareWriteEnv();
    openbao = await serviceAccountKubeConfig(OPENBAO_ACCOUNT.namespace, OPENBAO_ACCOUNT.name);
  });

  it("cannot bind cluster-admin, escalate, or touch roles, in a writable namespace or cluster-wide", async () => {
    for (const namespace of [NS, JIT_NAMESPACE, undefined]) {
      const where = namespace ?? "cluster";
      for (const name of ["cluster-admin", "admin", "edit"]) {
        expect(
          await allowed(OPENBAO_USER, {
            verb: "bind",
            group: RBAC_GROUP,
            resource: "clusterroles",
            name,
            namespace,
          }),
          `bind ${name} in ${where}`,
        ).toBe(false);
      }
      for (const resource of ["roles", "clusterroles"]) {
        for (const verb of ["escalate", "bind", "create", "update", "patch", "delete"]) {
          if (resource === "clusterroles" && verb === "bind") continue; // by name only, below
          expect(
            await allowed(OPENBAO_USER, { verb, group: RBAC_GROUP, resource, namespace }),
            `${verb} ${resource} in ${where}`,
          ).toBe(false);
        }
      }
    }
    // The real request: a RoleBinding to cluster-admin is refused by RBAC's escalation check.
    const rbac = openbao.makeApiClient(RbacAuthorizationV1Api);
    const attempt = await refused(
      rbac.createNamespacedRoleBinding({
        namespace: NS,
        body: {
          metadata: { name: `deputy-jit-${suffix()}` },
          roleRef: { apiGroup: RBAC_GROUP, kind: "ClusterRole", name: "cluster-admin" },
          subjects: [{ kind: "ServiceAccount", name: `deputy-jit-${suffix()}`, namespace: NS }],
        },
      }),
    );
    expect(attempt.status).toBe(403);
  });

  it("binds only Deputy's action roles, by name: namespaced ones per namespace, node ones cluster-wide", async () => {
    const bind = (name: string, namespace?: string): Promise<boolean> =>
      allowed(OPENBAO_USER, { verb: "bind", group: RBAC_GROUP, resource: "clusterroles", name, namespace });
    for (const role of env.roles.secretsEngine.roles) {
      expect(role.clusterRoleName.startsWith(ACTION_ROLE_PREFIX)).toBe(true);
      if (role.clusterRoleBinding) {
        expect(await bind(role.clusterRoleName), role.clusterRoleName).toBe(true);
      } else {
        expect(await bind(role.clusterRoleName, NS), role.clusterRoleName).toBe(true);
        // Never cluster-wide: that would grant e.g. deployments patch in every namespace.
        expect(await bind(role.clusterRoleName), `${role.clusterRoleName} cluster-wide`).toBe(false);
        expect(
          await bind(role.clusterRoleName, "kube-system"),
          `${role.clusterRoleName} in kube-system`,
        ).toBe(false);
      }
    }
  });

  it("cannot patch a Deployment, a node, or read a Secret itself", async () => {
    for (const access of [
      { verb: "patch", group: "apps", resource: "deployments", namespace: NS },
      { verb: "update", group: "apps", resource: "deployments", namespace: NS },
      { verb: "create", resource: "pods", subresource: "eviction", namespace: NS },
      { verb: "delete", resource: "pods", namespace: NS },
      { verb: "patch", resource: "nodes" },
      { verb: "get", resource: "secrets", namespace: NS },
      { verb: "create", resource: "pods", subresource: "exec", namespace: NS },
      { verb: "impersonate", resource: "serviceaccounts" },
    ] satisfies Access[]) {
      expect(await allowed(OPENBAO_USER, access), JSON.stringify(access)).toBe(false);
    }
    const { AppsV1Api } = await import("@kubernetes/client-node");
    const attempt = await refused(
      openbao.makeApiClient(AppsV1Api).patchNamespacedDeployment({
        name: "web",
        namespace: NS,
        body: [{ op: "replace", path: "/spec/replicas", value: 0 }],
      }),
    );
    expect(attempt.status).toBe(403);
  });

  it("creates accounts and bindings only in the writable and jit namespaces", async () => {
    for (const namespace of ["kube-system", "default", EXECUTOR_NAMESPACE, OPENBAO_ACCOUNT.namespace]) {
      for (const [resource, subresource] of [
        ["serviceaccounts", undefined],
        ["serviceaccounts", "token"],
      ] as const) {
        expect(
          await allowed(OPENBAO_USER, { verb: "create", resource, subresource, namespace }),
          `${resource}/${subresource ?? ""} in ${namespace}`,
        ).toBe(false);
      }
      expect(
        await allowed(OPENBAO_USER, {
          verb: "create",
          group: RBAC_GROUP,
          resource: "rolebindings",
          namespace,
        }),
      ).toBe(false);
    }
  });

  it("cannot mint a token for shop/default or any account it did not generate (admission guard)", async () => {
    // RBAC alone would allow this (the generated names are random); the guard refuses it.
    const core = openbao.makeApiClient(CoreV1Api);
    for (const name of ["default", EXECUTOR_SA]) {
      const attempt = await refused(
        core.createNamespacedServiceAccountToken({
          name,
          namespace: name === "default" ? NS : EXECUTOR_NAMESPACE,
          body: { spec: { audiences: ["https://kubernetes.default.svc"], expirationSeconds: 600 } },
        }),
      );
      expect(attempt.status, attempt.message).toBe(403);
    }
    const admission = await refused(
      core.createNamespacedServiceAccountToken({
        name: "default",
        namespace: NS,
        body: { spec: { audiences: ["https://kubernetes.default.svc"], expirationSeconds: 600 } },
      }),
    );
    expect(admission.message).toMatch(/deputy-openbao-guard/);
  });

  it("binds action roles only to accounts it generated, and deletes only such bindings (admission guard)", async () => {
    const rbac = openbao.makeApiClient(RbacAuthorizationV1Api);
    const toDefault = await refused(
      rbac.createNamespacedRoleBinding({
        namespace: NS,
        body: {
          metadata: { name: `deputy-jit-${suffix()}` },
          roleRef: { apiGroup: RBAC_GROUP, kind: "ClusterRole", name: "deputy-action-scale-deployment" },
          subjects: [{ kind: "ServiceAccount", name: "default", namespace: NS }],
        },
      }),
    );
    expect(toDefault.status).toBe(403);
    expect(toDefault.message).toMatch(/deputy-openbao-guard/);

    // Someone else's ClusterRoleBinding: RBAC lets OpenBao delete ClusterRoleBindings (names are random), the guard does not.
    const adminRbac = adminKubeConfig().makeApiClient(RbacAuthorizationV1Api);
    const name = `deputy-test-someone-${suffix()}`;
    await adminRbac.createClusterRoleBinding({
      body: {
        metadata: { name },
        roleRef: { apiGroup: RBAC_GROUP, kind: "ClusterRole", name: "view" },
        subjects: [{ kind: "ServiceAccount", name: "default", namespace: NS }],
      },
    });
    try {
      const deletion = await refused(rbac.deleteClusterRoleBinding({ name }));
      expect(deletion.status).toBe(403);
      expect(deletion.message).toMatch(/deputy-openbao-guard/);
    } finally {
      await adminRbac.deleteClusterRoleBinding({ name });
    }
  });

  it("does what a lease needs: a deputy-jit account, its token and a binding, then deletes them", async () => {
    const core = openbao.makeApiClient(CoreV1Api);
    const rbac = openbao.makeApiClient(RbacAuthorizationV1Api);
    const name = `deputy-jit-${suffix()}`;
    await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name } } });
    const token = await core.createNamespacedServiceAccountToken({
      name,
      namespace: NS,
      body: { spec: { audiences: ["https://kubernetes.default.svc"], expirationSeconds: 600 } },
    });
    expect(token.status?.token).toBeTruthy();
    await rbac.createNamespacedRoleBinding({
      namespace: NS,
      body: {
        metadata: { name },
        roleRef: { apiGroup: RBAC_GROUP, kind: "ClusterRole", name: "deputy-action-scale-deployment" },
        subjects: [{ kind: "ServiceAccount", name, namespace: NS }],
      },
    });
    await rbac.deleteNamespacedRoleBinding({ name, namespace: NS });
    await core.deleteNamespacedServiceAccount({ name, namespace: NS });
  });

  it("gives the logging-in accounts TokenReview, so OpenBao needs no reviewer token", async () => {
    const executor = `system:serviceaccount:${EXECUTOR_NAMESPACE}:${EXECUTOR_SA}`;
    expect(
      await allowed(executor, { verb: "create", group: "authentication.k8s.io", resource: "tokenreviews" }),
    ).toBe(true);
    expect(
      await allowed(OPENBAO_USER, {
        verb: "create",
        group: "authentication.k8s.io",
        resource: "tokenreviews",
      }),
    ).toBe(false);
    // ...and nothing that writes.
    expect(
      await allowed(executor, { verb: "patch", group: "apps", resource: "deployments", namespace: NS }),
    ).toBe(false);
  });
});
