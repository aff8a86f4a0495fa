import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { isDeputyError } from "../../core/errors.ts";
import { setupOpenBao } from "../../executor/openbao-setup.ts";
import { loadTestEnv, mintServiceAccountToken } from "../helpers/testenv.ts";
import {
  JIT_NAMESPACE,
  OPENBAO_ACCOUNT,
  prepareWriteEnv,
  TEST_MOUNT,
  TEST_POLICY,
  testRoles,
  WRITABLE,
  type WriteEnv,
} from "./write-env.ts";

const dataOf = <T extends z.ZodType>(schema: T) => z.object({ data: schema });

describe("OpenBao setup as code (Vault dev server)", () => {
  let env: WriteEnv;
  beforeAll(async () => {
    env = await prepareWriteEnv();
  });

  it("is idempotent and creates exactly what roles.yaml describes", async () => {
    const test = loadTestEnv();
    const jwt = await mintServiceAccountToken(OPENBAO_ACCOUNT.namespace, OPENBAO_ACCOUNT.name);
    const options = {
      openbao: env.openbao,
      adminToken: test.baoRootToken,
      roles: testRoles(),
      kubernetesHost: test.server,
      kubernetesCaPem: readFileSync(test.caFile, "utf8"),
      secretsEngineJwt: jwt,
    };
    const first = await setupOpenBao(options);
    const second = await setupOpenBao(options);
    expect(second).toEqual(first);
    expect(first.secretsRoles).toHaveLength(env.roles.secretsEngine.roles.length);

    const token = test.baoRootToken;
    const login = await env.openbao.request("GET", `auth/${TEST_MOUNT}/role/deputy-executor`, {
      token,
      schema: dataOf(
        z
          .object({
            token_ttl: z.number(),
            token_max_ttl: z.number(),
            audience: z.string(),
            bound_service_account_names: z.array(z.string()),
            token_policies: z.array(z.string()),
          })
          .loose(),
      ),
    });
    expect(login.data).toMatchObject({
      token_ttl: 60,
      token_max_ttl: 3600,
      audience: "openbao",
      bound_service_account_names: ["deputy-executor"],
      token_policies: [TEST_POLICY],
    });

    const evict = await env.openbao.request("GET", `${TEST_MOUNT}/roles/deputy-evict-pod`, {
      token,
      schema: dataOf(
        z
          .object({
            allowed_kubernetes_namespaces: z.array(z.string()),
            generated_role_rules: z.string(),
            kubernetes_role_name: z.string(),
            token_default_ttl: z.number(),
            kubernetes_role_type: z.string(),
          })
          .loose(),
      ),
    });
    expect([...evict.data.allowed_kubernetes_namespaces].sort()).toEqual([...WRITABLE].sort());
    expect(evict.data.allowed_kubernetes_namespaces).not.toContain("*");
    expect(evict.data.token_default_ttl).toBe(600);
    // Existing-role mode: a RoleBinding to the pre-created ClusterRole, never a generated role.
    expect(evict.data.kubernetes_role_type).toBe("ClusterRole");
    expect(evict.data.kubernetes_role_name).toBe("deputy-action-evict-pod");
    expect(evict.data.generated_role_rules).toBe("");

    const drain = await env.openbao.request("GET", `${TEST_MOUNT}/roles/deputy-drain-node`, {
      token,
      schema: dataOf(
        z
          .object({
            allowed_kubernetes_namespaces: z.array(z.string()),
            kubernetes_role_type: z.string(),
            kubernetes_role_name: z.string(),
          })
          .loose(),
      ),
    });
    expect(drain.data).toMatchObject({
      allowed_kubernetes_namespaces: [JIT_NAMESPACE],
      kubernetes_role_type: "ClusterRole",
      kubernetes_role_name: "deputy-action-drain-node",
    });

    // Every parallel mount carries every role, identically.
    for (const mount of env.secretsMounts) {
      const same = await env.openbao.request("GET", `${mount}/roles/deputy-drain-node`, {
        token,
        schema: dataOf(z.object({ kubernetes_role_name: z.string() }).loose()),
      });
      expect(same.data.kubernetes_role_name, mount).toBe("deputy-action-drain-node");
    }

    // No standing reviewer credential: each login's TokenReview uses the client's own token.
    const auth = await env.openbao.request("GET", `auth/${TEST_MOUNT}/config`, {
      token,
      schema: dataOf(z.object({ token_reviewer_jwt_set: z.boolean() }).loose()),
    });
    expect(auth.data.token_reviewer_jwt_set).toBe(false);

    const policy = await env.openbao.request("GET", `sys/policies/acl/${TEST_POLICY}`, {
      token,
      schema: dataOf(z.object({ policy: z.string() }).loose()),
    });
    expect(policy.data.policy).toContain(`path "${TEST_MOUNT}/creds/deputy-*"`);
    expect(policy.data.policy).toContain(`path "sys/leases/revoke/${TEST_MOUNT}/creds/deputy-*"`);
  });

  it("two set-ups at once on a fresh OpenBao both succeed (replicas starting together)", async () => {
    const test = loadTestEnv();
    const mount = `k8s-race-${randomBytes(3).toString("hex")}`;
    const roles = testRoles();
    const raced = {
      ...roles,
      auth: { ...roles.auth, mount },
      secretsEngine: { ...roles.secretsEngine, mount, parallelMounts: 2 },
    };
    const options = {
      openbao: env.openbao,
      adminToken: test.baoRootToken,
      roles: raced,
      kubernetesHost: test.server,
      kubernetesCaPem: readFileSync(test.caFile, "utf8"),
    };
    try {
      const [first, second] = await Promise.all([setupOpenBao(options), setupOpenBao(options)]);
      expect(second).toEqual(first);
    } finally {
      const token = test.baoRootToken;
      await env.openbao
        .request("DELETE", `sys/auth/${mount}`, { token, schema: z.unknown() })
        .catch(() => undefined);
      for (const name of [mount, `${mount}-1`, `${mount}-2`]) {
        await env.openbao
          .request("DELETE", `sys/mounts/${name}`, { token, schema: z.unknown() })
          .catch(() => undefined);
      }
    }
  });

  it("refuses bad inputs before touching OpenBao", async () => {
    const test = loadTestEnv();
    const base = {
      openbao: env.openbao,
      adminToken: test.baoRootToken,
      roles: testRoles(),
      kubernetesHost: test.server,
      kubernetesCaPem: readFileSync(test.caFile, "utf8"),
      secretsEngineJwt: "a.b.c",
    };
    for (const [change, message] of [
      [{ kubernetesHost: "127.0.0.1:6443" }, /not an http\(s\) URL/],
      [{ kubernetesCaPem: "not a cert" }, /must be a PEM certificate/],
      [{ secretsEngineJwt: "opaque" }, /secrets engine JWT is not a JWT/],
    ] as const) {
      const error = await setupOpenBao({ ...base, ...change }).catch((e: unknown) => e);
      expect(isDeputyError(error, "CONFIG_INVALID")).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
  });
});
