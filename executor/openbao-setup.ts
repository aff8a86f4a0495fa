import { z } from "zod";
import { DeputyError } from "../core/errors.ts";
import {
  authRoleParams,
  renderPolicyHcl,
  secretsMounts,
  secretsRoleParams,
  type OpenBaoRoles,
} from "../core/identity/openbao-roles.ts";
import { ignoredSchema, OpenBaoError, type OpenBaoClient } from "./openbao-client.ts";

/**
 * OpenBao setup as code, idempotent: run it again and it converges. Used by
 * the tests and local mode, and the reference for production (an operator
 * runs `deputy executor setup-openbao` once with an admin token). Everything
 * it creates is described in manifests/openbao/roles.yaml:
 *
 * 1. Kubernetes auth at `auth/<mount>`, configured with the API server's
 *    address and CA and NO token-reviewer JWT: each login's TokenReview is
 *    authenticated by the logging-in client's own short-lived token (its
 *    account holds system:auth-delegator), so no standing reviewer credential
 *    is stored in OpenBao. The login roles — `deputy-executor` is bound
 *    to the executor's service account name + namespace, audience `openbao`,
 *    token TTL and max TTL 60 s, one policy.
 * 2. The policies, rendered to HCL: the executor's may only mint
 *    `<mount>/creds/deputy-*` and revoke leases.
 * 3. The Kubernetes secrets engine at `<mount>/`, configured with its own
 *    service account's JWT (manifests/base/rbac/openbao-secrets-engine.yaml),
 *    and one role per action type naming its pre-created ClusterRole
 *    (kubernetes_role_name, manifests/base/rbac/deputy-action-roles.yaml), an
 *    explicit namespace list (never `*`); the lease TTL is sized per action
 *    and revocation ends it as soon as the action does.
 */

export interface OpenBaoSetupOptions {
  openbao: OpenBaoClient;
  /** An admin token, used for setup only and never stored. */
  adminToken: string;
  roles: OpenBaoRoles;
  kubernetesHost: string;
  kubernetesCaPem: string;
  /**
   * JWT of the secrets engine's own service account. Omit it when OpenBao runs
   * in the cluster: the engine then uses its pod's projected token, which the
   * kubelet rotates, so no long-lived token is stored.
   */
  secretsEngineJwt?: string | undefined;
}

export interface OpenBaoSetupResult {
  authMount: string;
  secretsMount: string;
  authRoles: string[];
  policies: string[];
  secretsRoles: string[];
}

const mountTableSchema = z.object({ data: z.record(z.string(), z.unknown()).optional() }).loose();

export async function setupOpenBao(options: OpenBaoSetupOptions): Promise<OpenBaoSetupResult> {
  const { openbao: bao, adminToken: token, roles } = options;
  if (!/^https?:\/\//.test(options.kubernetesHost)) {
    throw new DeputyError(
      "CONFIG_INVALID",
      `Kubernetes host "${options.kubernetesHost}" is not an http(s) URL`,
    );
  }
  if (!options.kubernetesCaPem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new DeputyError("CONFIG_INVALID", "The Kubernetes CA must be a PEM certificate");
  }
  if (options.secretsEngineJwt !== undefined && options.secretsEngineJwt.split(".").length !== 3) {
    throw new DeputyError("CONFIG_INVALID", "The secrets engine JWT is not a JWT");
  }

  const call = (method: "POST" | "PUT", path: string, body: unknown): Promise<unknown> =>
    bao.request(method, path, { token, body, schema: ignoredSchema });
  /**
   * Mount unless mounted. Two set-ups at once (replicas starting together, test processes) can
   * both see it missing: the one that loses is told the path is in use, which is what it wanted.
   */
  const mountOnce = async (table: "sys/auth" | "sys/mounts", mount: string, body: unknown): Promise<void> => {
    if (await mounted(table, mount)) return;
    try {
      await call("POST", `${table}/${mount}`, body);
    } catch (error) {
      const inUse =
        error instanceof OpenBaoError &&
        error.status === 400 &&
        error.errors.some((text) => text.includes("path is already in use"));
      if (!inUse) throw error;
    }
  };
  const mounted = async (table: "sys/auth" | "sys/mounts", mount: string): Promise<boolean> => {
    const answer = await bao.request("GET", table, { token, schema: mountTableSchema });
    // Older servers list mounts at the top level, newer ones under `data`.
    return Object.hasOwn(answer.data ?? answer, `${mount}/`);
  };

  // 1. Kubernetes auth method and its login roles.
  const authMount = roles.auth.mount;
  await mountOnce("sys/auth", authMount, { type: "kubernetes", description: "Deputy logins" });
  await call("POST", `auth/${authMount}/config`, {
    kubernetes_host: options.kubernetesHost,
    kubernetes_ca_cert: options.kubernetesCaPem,
    // Empty clears a reviewer JWT an earlier setup stored: logins review themselves.
    token_reviewer_jwt: "",
    disable_local_ca_jwt: true,
  });

  // 2. Policies before the roles that name them.
  for (const [name, policy] of Object.entries(roles.policies)) {
    await call("PUT", `sys/policies/acl/${name}`, { policy: renderPolicyHcl(policy) });
  }
  for (const role of roles.auth.roles) {
    await call("POST", `auth/${authMount}/role/${role.name}`, authRoleParams(role));
  }

  // 3. Kubernetes secrets engine and one role per action type, on each parallel mount.
  const secretsMount = roles.secretsEngine.mount;
  const setUpMount = async (mount: string): Promise<void> => {
    await mountOnce("sys/mounts", mount, { type: "kubernetes", description: "Deputy JIT credentials" });
    await call("POST", `${mount}/config`, {
      kubernetes_host: options.kubernetesHost,
      kubernetes_ca_cert: options.kubernetesCaPem,
      // Without a JWT (empty clears an earlier one), the engine reads its pod's own token.
      service_account_jwt: options.secretsEngineJwt ?? "",
      disable_local_ca_jwt: options.secretsEngineJwt !== undefined,
    });
    for (const role of roles.secretsEngine.roles) {
      await call("POST", `${mount}/roles/${role.name}`, secretsRoleParams(roles, role));
    }
  };
  await Promise.all(secretsMounts(secretsMount, roles.secretsEngine.parallelMounts).map(setUpMount));

  return {
    authMount,
    secretsMount,
    authRoles: roles.auth.roles.map((role) => role.name),
    policies: Object.keys(roles.policies),
    secretsRoles: roles.secretsEngine.roles.map((role) => role.name),
  };
}
