import { readFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  OPENBAO_ROLES_FILE,
  credsRequestParams,
  parseOpenBaoRoles,
  roleForAction,
  secretsMounts,
  type OpenBaoRoles,
} from "../../core/identity/openbao-roles.ts";
import {
  createOpenBaoClient,
  ignoredSchema,
  kubernetesCredsSchema,
  OpenBaoError,
} from "../../executor/openbao-client.ts";
import { setupOpenBao } from "../../executor/openbao-setup.ts";
import {
  adminKubeConfig,
  deleteNamespace,
  freshNamespace,
  loadTestEnv,
  mintServiceAccountToken,
} from "../helpers/testenv.ts";
import { MANIFESTS_DIR, renderKustomization } from "./kustomize.ts";
import { api, applyFoundation } from "./support.ts";

/**
 * manifests/openbao/roles.yaml applied with the executor's own setup
 * (executor/openbao-setup.ts) to the test OpenBao-compatible server, with the
 * cluster's RBAC from manifests/ applied to the real API server. Logins are
 * refused for a wrong audience, a wrong service account or a wrong
 * namespace; each identity reads only its own secrets; and OpenBao's own
 * service account, with exactly the manifest's RBAC, can mint the
 * per-action credentials that revocation then removes.
 *
 * The mounts get unique names so this file never reconfigures the mounts
 * the write-path tests use at the same time.
 */

const suffix = randomBytes(3).toString("hex");
const AUTH_MOUNT = `manifests-auth-${suffix}`;
const SECRETS_MOUNT = `manifests-k8s-${suffix}`;

const env = loadTestEnv();
const bao = createOpenBaoClient({ addr: env.baoAddr });
const root = env.baoRootToken;
let roles: OpenBaoRoles;
let strangerNamespace: string;

async function login(
  role: string,
  jwt: string,
): Promise<{ status: number; errors: string; token?: string; ttl?: number; policies?: string[] }> {
  const response = await fetch(`${env.baoAddr}/v1/auth/${AUTH_MOUNT}/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ role, jwt }),
  });
  const body = (await response.json()) as {
    errors?: string[];
    auth?: { client_token: string; lease_duration: number; token_policies: string[] };
  };
  return {
    status: response.status,
    errors: (body.errors ?? []).join("; "),
    token: body.auth?.client_token,
    ttl: body.auth?.lease_duration,
    policies: body.auth?.token_policies,
  };
}

async function statusOf(
  method: "GET" | "POST",
  path: string,
  token: string,
  body?: unknown,
): Promise<number> {
  try {
    await bao.request(method, path, { token, body, schema: ignoredSchema });
    return 200;
  } catch (error) {
    if (error instanceof OpenBaoError) return error.status;
    throw error;
  }
}

beforeAll(async () => {
  const admin = adminKubeConfig();
  await applyFoundation(admin, renderKustomization(join(MANIFESTS_DIR, "overlays", "dev")));
  strangerNamespace = await freshNamespace("manifests-stranger");

  const document = parse(readFileSync(OPENBAO_ROLES_FILE, "utf8")) as {
    auth: { mount: string };
    secretsEngine: { mount: string };
  };
  document.auth.mount = AUTH_MOUNT;
  document.secretsEngine.mount = SECRETS_MOUNT;
  roles = parseOpenBaoRoles(document);

  // OpenBao's own account (openbao/openbao), bound by the manifest to the
  // secrets engine's RBAC: it mints. Logins are reviewed with their own token.
  const openbaoJwt = await mintServiceAccountToken("openbao", "openbao");
  await setupOpenBao({
    openbao: bao,
    adminToken: root,
    roles,
    kubernetesHost: env.server,
    kubernetesCaPem: readFileSync(env.caFile, "utf8"),
    secretsEngineJwt: openbaoJwt,
  });
});

afterAll(async () => {
  const mounts = roles ? secretsMounts(SECRETS_MOUNT, roles.secretsEngine.parallelMounts) : [SECRETS_MOUNT];
  for (const path of [`sys/auth/${AUTH_MOUNT}`, ...mounts.map((mount) => `sys/mounts/${mount}`)]) {
    await bao.request("DELETE", path, { token: root, schema: ignoredSchema }).catch(() => undefined);
  }
  if (strangerNamespace) await deleteNamespace(strangerNamespace);
});

describe("OpenBao Kubernetes auth, as configured from roles.yaml", () => {
  it("logs the executor in with its openbao-audience token, for 60 s, with only its policy", async () => {
    const jwt = await mintServiceAccountToken("deputy-system", "deputy-executor", { audience: "openbao" });
    const answer = await login("deputy-executor", jwt);
    expect(answer.status).toBe(200);
    expect(answer.ttl).toBe(60);
    expect(answer.policies).toEqual(["deputy-executor"]);
  });

  it("refuses the executor's token with the API server's audience", async () => {
    const jwt = await mintServiceAccountToken("deputy-system", "deputy-executor");
    const answer = await login("deputy-executor", jwt);
    expect(answer.status).toBe(403);
    expect(answer.errors).toMatch(/invalid audience/);
    expect(answer.token).toBeUndefined();
  });

  it("refuses a token with an unrelated audience", async () => {
    const jwt = await mintServiceAccountToken("deputy-system", "deputy-executor", {
      audience: "https://openbao.example",
    });
    const answer = await login("deputy-executor", jwt);
    expect(answer.status).toBe(403);
    expect(answer.errors).toMatch(/invalid audience/);
  });

  it("refuses another service account, even with the right audience", async () => {
    for (const [namespace, name] of [
      ["deputy-system", "deputy-mcp"],
      ["deputy-agent", "deputy-bot"],
      ["deputy-system", "default"],
    ] as const) {
      const jwt = await mintServiceAccountToken(namespace, name, { audience: "openbao" });
      const answer = await login("deputy-executor", jwt);
      expect(answer.status, `${namespace}/${name}`).toBe(403);
      expect(answer.errors, `${namespace}/${name}`).toMatch(/service account name not authorized/);
      expect(answer.token, `${namespace}/${name}`).toBeUndefined();
    }
  });

  it("refuses an account named deputy-executor in another namespace", async () => {
    const jwt = await mintServiceAccountToken(strangerNamespace, "deputy-executor", { audience: "openbao" });
    const answer = await login("deputy-executor", jwt);
    expect(answer.status).toBe(403);
    expect(answer.errors).toMatch(/namespace not authorized/);
  });

  it("refuses a token that is not a service-account token of this cluster", async () => {
    const forged = [
      Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url"),
      Buffer.from(
        JSON.stringify({ sub: "system:serviceaccount:deputy-system:deputy-executor", aud: ["openbao"] }),
      ).toString("base64url"),
      "",
    ].join(".");
    expect((await login("deputy-executor", forged)).status).toBeGreaterThanOrEqual(400);
  });

  it("gives each identity only its own secrets", async () => {
    const executor = await login(
      "deputy-executor",
      await mintServiceAccountToken("deputy-system", "deputy-executor", { audience: "openbao" }),
    );
    const bot = await login(
      "deputy-bot",
      await mintServiceAccountToken("deputy-agent", "deputy-bot", { audience: "openbao" }),
    );
    expect(bot.status).toBe(200);
    expect(bot.policies).toEqual(["deputy-bot"]);
    const botAsExecutor = await login(
      "deputy-executor",
      await mintServiceAccountToken("deputy-agent", "deputy-bot", { audience: "openbao" }),
    );
    expect(botAsExecutor.status).toBe(403);
    expect(bot.ttl).toBe(60);
    const kv = (path: string): string => `${roles.kv.mount}/data/${path}`;
    // 404 = allowed but empty; 403 = refused by policy
    expect([200, 404]).toContain(await statusOf("GET", kv("deputy/slack"), bot.token!));
    expect([200, 404]).toContain(await statusOf("GET", kv("deputy/anthropic"), bot.token!));
    expect([200, 404]).toContain(await statusOf("GET", kv("deputy/alerts"), bot.token!));
    expect(await statusOf("GET", kv("deputy/redis"), bot.token!)).toBe(403);
    expect(
      await statusOf("POST", `kubernetes/creds/deputy-restart-deployment`, bot.token!, {
        kubernetes_namespace: "shop",
      }),
    ).toBe(403);
    for (const path of ["deputy/slack", "deputy/anthropic", "deputy/alerts", "deputy/redis"]) {
      expect(await statusOf("GET", kv(path), executor.token!), path).toBe(403);
    }
    expect(await statusOf("GET", "sys/policies/acl/deputy-executor", executor.token!)).toBe(403);
  });
});

describe("the secrets engine, with OpenBao's RBAC from manifests/", () => {
  async function mint(
    tool: string,
    namespace: string,
  ): Promise<{ leaseId: string; account: string; accountNamespace: string; token: string }> {
    const role = roleForAction(roles, tool);
    const answer = await bao.request("POST", `${SECRETS_MOUNT}/creds/${role.name}`, {
      token: root,
      body: credsRequestParams(role, namespace),
      schema: kubernetesCredsSchema,
    });
    return {
      leaseId: answer.lease_id,
      account: answer.data.service_account_name,
      accountNamespace: answer.data.service_account_namespace,
      token: answer.data.service_account_token,
    };
  }

  async function can(
    account: string,
    namespace: string,
    verb: string,
    resource: string,
    ns?: string,
    group = "",
  ): Promise<boolean> {
    const answer = await api(
      adminKubeConfig(),
      "POST",
      "/apis/authorization.k8s.io/v1/subjectaccessreviews",
      {
        apiVersion: "authorization.k8s.io/v1",
        kind: "SubjectAccessReview",
        spec: {
          user: `system:serviceaccount:${namespace}:${account}`,
          resourceAttributes: { verb, resource, namespace: ns, group },
        },
      },
    );
    return (answer.body.status as { allowed: boolean }).allowed;
  }

  async function accountExists(namespace: string, name: string): Promise<boolean> {
    const answer = await api(
      adminKubeConfig(),
      "GET",
      `/api/v1/namespaces/${namespace}/serviceaccounts/${name}`,
    );
    return answer.status === 200;
  }

  it("mints a restart credential in a writable namespace that can patch deployments there and nothing else", async () => {
    const credential = await mint("restart_deployment", "shop");
    try {
      expect(credential.accountNamespace).toBe("shop");
      expect(await can(credential.account, "shop", "patch", "deployments", "shop", "apps")).toBe(true);
      expect(await can(credential.account, "shop", "delete", "deployments", "shop", "apps")).toBe(false);
      expect(await can(credential.account, "shop", "patch", "deployments", "default", "apps")).toBe(false);
      expect(await can(credential.account, "shop", "get", "secrets", "shop")).toBe(false);
    } finally {
      await bao.request("POST", "sys/leases/revoke", {
        token: root,
        body: { lease_id: credential.leaseId },
        schema: ignoredSchema,
      });
    }
    expect(await accountExists("shop", credential.account)).toBe(false);
  });

  it("mints a cordon credential as a ClusterRole limited to nodes, its account in deputy-jit", async () => {
    const credential = await mint("cordon_node", "shop");
    try {
      expect(credential.accountNamespace).toBe(roles.jitNamespace);
      expect(await can(credential.account, roles.jitNamespace, "patch", "nodes")).toBe(true);
      expect(await can(credential.account, roles.jitNamespace, "delete", "nodes")).toBe(false);
      expect(await can(credential.account, roles.jitNamespace, "patch", "deployments", "shop", "apps")).toBe(
        false,
      );
    } finally {
      await bao.request("POST", "sys/leases/revoke", {
        token: root,
        body: { lease_id: credential.leaseId },
        schema: ignoredSchema,
      });
    }
    expect(await accountExists(roles.jitNamespace, credential.account)).toBe(false);
  });

  it("refuses a namespace that is not writable", async () => {
    const role = roleForAction(roles, "restart_deployment");
    for (const namespace of ["kube-system", strangerNamespace]) {
      const status = await statusOf("POST", `${SECRETS_MOUNT}/creds/${role.name}`, root, {
        kubernetes_namespace: namespace,
      });
      expect(status, namespace).toBeGreaterThanOrEqual(400);
    }
  });
});
