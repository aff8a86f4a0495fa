import { z } from "zod";
import { DeputyError } from "../core/errors.ts";
import {
  authRoleParams,
  renderPolicyHcl,
  secretsRoleParams,
  type OpenBaoRoles,
} from "../core/openbao-roles.ts";
import { ignoredSchema, type OpenBaoClient } from "./openbao-client.ts";

/**
 * OpenBao setup as code, idempotent: run it again and it converges. Used by
 * the tests and local mode, and the reference for production (an operator
 * runs `deputy executor setup-openbao` once with an admin token). Everything
 * it creates is described in manifests/openbao/roles.yaml:
 *
 * 1. Kubernetes auth at `auth/<mount>`, configured with the API server's
 *    address, CA and a token-reviewer JWT (a service account bound to
 *    system:auth-delegator), and the login roles — `deputy-executor` is bound
 *    to the executor's service account name + namespace, audience `openbao`,
 *    token TTL and max TTL 60 s, one policy.
 * 2. The policies, rendered to HCL: the executor's may only mint
 *    `<mount>/creds/deputy-*` and revoke leases.
 * 3. The Kubernetes secrets engine at `<mount>/`, configured with its own
 *    service account's JWT (manifests/base/rbac/openbao-secrets-engine.yaml),
 *    and one role per action type: generated rules, an explicit namespace
 *    list (never `*`), token TTL 10 min — Kubernetes' minimum; revocation is
 *    what makes the credential short-lived.
 */

export interface OpenBaoSetupOptions {
  openbao: OpenBaoClient;
  /** An admin token, used for setup only and never stored. */
  adminToken: string;
  roles: OpenBaoRoles;
  kubernetesHost: string;
  kubernetesCaPem: string;
  /** JWT of a service account allowed to create TokenReviews (system:auth-delegator). */
  tokenReviewerJwt: string;
  /** JWT of the secrets engine's own service account. */
  secretsEngineJwt: string;
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
  for (const [what, jwt] of [
    ["token reviewer JWT", options.tokenReviewerJwt],
    ["secrets engine JWT", options.secretsEngineJwt],
  ] as const) {
    if (jwt.split(".").length !== 3) throw new DeputyError("CONFIG_INVALID", `The ${what} is not a JWT`);
  }

  const call = (method: "POST" | "PUT", path: string, body: unknown): Promise<unknown> =>
    bao.request(method, path, { token, body, schema: ignoredSchema });
  const mounted = async (table: "sys/auth" | "sys/mounts", mount: string): Promise<boolean> => {
    const answer = await bao.request("GET", table, { token, schema: mountTableSchema });
    // Older servers list mounts at the top level, newer ones under `data`.
    return Object.hasOwn(answer.data ?? answer, `${mount}/`);
  };

  // 1. Kubernetes auth method and its login roles.
  const authMount = roles.auth.mount;
  if (!(await mounted("sys/auth", authMount))) {
    await call("POST", `sys/auth/${authMount}`, { type: "kubernetes", description: "Deputy logins" });
  }
  await call("POST", `auth/${authMount}/config`, {
    kubernetes_host: options.kubernetesHost,
    kubernetes_ca_cert: options.kubernetesCaPem,
    token_reviewer_jwt: options.tokenReviewerJwt,
    disable_local_ca_jwt: true,
  });

  // 2. Policies before the roles that name them.
  for (const [name, policy] of Object.entries(roles.policies)) {
    await call("PUT", `sys/policies/acl/${name}`, { policy: renderPolicyHcl(policy) });
  }
  for (const role of roles.auth.roles) {
    await call("POST", `auth/${authMount}/role/${role.name}`, authRoleParams(role));
  }

  // 3. Kubernetes secrets engine and one role per action type.
  const secretsMount = roles.secretsEngine.mount;
  if (!(await mounted("sys/mounts", secretsMount))) {
    await call("POST", `sys/mounts/${secretsMount}`, {
      type: "kubernetes",
      description: "Deputy JIT credentials",
    });
  }
  await call("POST", `${secretsMount}/config`, {
    kubernetes_host: options.kubernetesHost,
    kubernetes_ca_cert: options.kubernetesCaPem,
    service_account_jwt: options.secretsEngineJwt,
    disable_local_ca_jwt: true,
  });
  for (const role of roles.secretsEngine.roles) {
    await call("POST", `${secretsMount}/roles/${role.name}`, secretsRoleParams(roles, role));
  }

  return {
    authMount,
    secretsMount,
    authRoles: roles.auth.roles.map((role) => role.name),
    policies: Object.keys(roles.policies),
    secretsRoles: roles.secretsEngine.roles.map((role) => role.name),
  };
}
