import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { isDeputyError } from "../../core/errors.ts";
import { createMetrics, type Metrics } from "../../core/observability/metrics.ts";
import { isKubeApiError } from "../../core/kube/errors.ts";
import { roleForAction } from "../../core/identity/openbao-roles.ts";
import {
  createCredentialBroker,
  type CredentialBroker,
  type JitCredential,
} from "../../executor/credential-broker.ts";
import { createKubeWriter } from "../../executor/kube-writer.ts";
import { ignoredSchema } from "../../executor/openbao-client.ts";
import { loadTestEnv, mintServiceAccountToken } from "../helpers/testenv.ts";
import { capture } from "./support.ts";
import { prepareWriteEnv, TEST_POLICY, type WriteEnv } from "./write-env.ts";

/** OpenBao Kubernetes auth + secrets engine, for real: login, mint, use, revoke. */
const NS = "deputy-w-broker";

describe("credential broker (Vault dev server, real API server)", () => {
  let env: WriteEnv;
  const captured = capture();

  function broker(
    options: {
      minRemainingMs?: number;
      now?: () => number;
      jwtPath?: string;
      onCredential?: (c: Readonly<JitCredential>) => void;
      metrics?: Metrics;
    } = {},
  ): CredentialBroker {
    return createCredentialBroker({
      openbao: env.openbao,
      logger: captured.logger,
      authMount: env.authMount,
      authRole: env.authRole,
      secretsMount: env.secretsMount,
      jwtPath: options.jwtPath ?? env.jwtPath,
      ...(options.minRemainingMs === undefined ? {} : { minRemainingMs: options.minRemainingMs }),
      ...(options.now ? { now: options.now } : {}),
      ...(options.onCredential ? { onCredential: options.onCredential } : {}),
      ...(options.metrics ? { metrics: options.metrics } : {}),
    });
  }

  async function status(token: string, method: "get" | "delete", path: string): Promise<number> {
    const writer = createKubeWriter(env.cluster, token, {
      retry: { attempts: 1, baseMs: 1, capMs: 1 },
      settleMs: 0,
    });
    try {
      if (method === "get") await writer.get(path);
      else await writer.post(path, {});
      return 200;
    } catch (error) {
      if (isKubeApiError(error)) return error.status;
      throw error;
    } finally {
      writer.close();
    }
  }

  beforeAll(async () => {
    env = await prepareWriteEnv();
  });

  it("mints a credential scoped to exactly the action's verbs and namespace, and kills it on revoke", async () => {
    const role = roleForAction(env.roles, "scale_deployment");
    let token = "";
    let account = "";
    const used = await broker().withCredential({ role, namespace: NS }, async (credential) => {
      token = credential.token;
      account = credential.serviceAccountName;
      expect(credential.namespace).toBe(NS);
      expect(account).toMatch(/^deputy-jit-[a-z0-9]{12}$/);
      return {
        deployment: await status(token, "get", `/apis/apps/v1/namespaces/${NS}/deployments/nope`),
        deploymentElsewhere: await status(token, "get", "/apis/apps/v1/namespaces/shop/deployments/frontend"),
        secrets: await status(token, "get", `/api/v1/namespaces/${NS}/secrets`),
        pods: await status(token, "get", `/api/v1/namespaces/${NS}/pods`),
      };
    });
    // get on deployments in its namespace is allowed (404: no such object); nothing else is.
    expect(used.value).toEqual({ deployment: 404, deploymentElsewhere: 403, secrets: 403, pods: 403 });
    expect(used.revoked).toBe(true);
    // Right after revocation the token can do nothing: its Role and binding are gone (403, never the
    // 404 it got before). The API server caches a successful authentication for up to 10 s, after
    // which the token of the deleted account does not authenticate at all (approval-executor.test.ts).
    expect([401, 403]).toContain(
      await status(token, "get", `/apis/apps/v1/namespaces/${NS}/deployments/nope`),
    );
    expect(captured.text()).not.toContain(token);
    expect(captured.text()).toContain(used.leaseId);
  });

  it("shares one login among concurrent callers and reuses it while it is valid", async () => {
    const b = broker();
    const role = roleForAction(env.roles, "restart_deployment");
    const tokens: string[] = [];
    await Promise.all(
      Array.from({ length: 8 }, () =>
        b.withCredential({ role, namespace: NS }, async (credential) => {
          tokens.push(credential.token);
        }),
      ),
    );
    await b.withCredential({ role, namespace: NS }, async () => undefined);
    expect(b.stats()).toEqual({
      logins: 1,
      minted: 9,
      revoked: 9,
      revokeFailures: 0,
      renewals: 0,
      renewFailures: 0,
    });
    expect(new Set(tokens).size).toBe(8);
    for (const token of tokens)
      expect(await status(token, "get", `/apis/apps/v1/namespaces/${NS}/deployments/x`)).toBe(401);
  });

  it("counts OpenBao logins, and a refused login as an error, in its metrics", async () => {
    const metrics = createMetrics({ labels: { component: "test" } });
    const role = roleForAction(env.roles, "restart_deployment");
    await broker({ metrics }).withCredential({ role, namespace: NS }, async () => undefined);
    const dir = await mkdtemp(join(tmpdir(), "deputy-jwt-"));
    await writeFile(join(dir, "token"), "not-a-jwt");
    await expect(
      broker({ metrics, jwtPath: join(dir, "token") }).withCredential(
        { role, namespace: NS },
        async () => undefined,
      ),
    ).rejects.toThrow();
    const body = await metrics.registry.metrics();
    expect(body).toContain('deputy_openbao_logins_total{outcome="ok",component="test"} 1');
    expect(body).toContain('deputy_openbao_logins_total{outcome="error",component="test"} 1');
    expect(body).toContain('deputy_openbao_errors_total{operation="login",component="test"} 1');
    expect(body).not.toMatch(/deputy_openbao_errors_total\{operation="(creds|revoke)"/);
  });

  it("logs in again once the token has too little life left (TTL 60 s)", async () => {
    // The broker's clock moves 45 s: the token has 15 s left, less than the 30 s an action may need.
    let clock = Date.now();
    const b = broker({ now: () => clock });
    const role = roleForAction(env.roles, "restart_deployment");
    await b.withCredential({ role, namespace: NS }, async () => undefined);
    clock += 20_000;
    await b.withCredential({ role, namespace: NS }, async () => undefined);
    expect(b.stats().logins).toBe(1);
    clock += 25_000;
    await b.withCredential({ role, namespace: NS }, async () => undefined);
    expect(b.stats()).toMatchObject({ logins: 2, minted: 3, revoked: 3 });
  });

  it("revokes the lease even when the action throws", async () => {
    let token = "";
    const error = await broker()
      .withCredential({ role: roleForAction(env.roles, "delete_pod"), namespace: NS }, async (credential) => {
        token = credential.token;
        throw new Error("action failed");
      })
      .catch((e: unknown) => e);
    expect((error as Error).message).toBe("action failed");
    expect(await status(token, "get", `/api/v1/namespaces/${NS}/pods/x`)).toBe(401);
  });

  it("mints node credentials in the jit namespace with a cluster role binding", async () => {
    const used = await broker().withCredential(
      { role: roleForAction(env.roles, "cordon_node"), namespace: undefined },
      async (credential) => ({
        namespace: credential.namespace,
        nodes: await status(credential.token, "get", "/api/v1/nodes/no-such-node"),
        pods: await status(credential.token, "get", "/api/v1/namespaces/shop/pods"),
      }),
    );
    expect(used.value).toEqual({ namespace: "deputy-test-jit", nodes: 404, pods: 403 });
  });

  it("refuses a namespace outside the role before asking OpenBao, and a bad service-account token clearly", async () => {
    const b = broker();
    const refused = await b
      .withCredential(
        { role: roleForAction(env.roles, "scale_deployment"), namespace: "kube-system" },
        async () => "ran",
      )
      .catch((e: unknown) => e);
    expect(isDeputyError(refused, "POLICY_DENIED")).toBe(true);
    expect(b.stats()).toMatchObject({ logins: 0, minted: 0 });

    const missing = broker({ jwtPath: "/nonexistent/token" });
    const noJwt = await missing
      .withCredential(
        { role: roleForAction(env.roles, "scale_deployment"), namespace: NS },
        async () => "ran",
      )
      .catch((e: unknown) => e);
    expect(isDeputyError(noJwt, "CREDENTIAL_FAILED")).toBe(true);
    expect((noJwt as Error).message).toMatch(
      /Cannot read the executor's service-account token at \/nonexistent\/token/,
    );

    // A token for the API server's audience is not accepted by the openbao-audience role.
    const dir = await mkdtemp(join(tmpdir(), "deputy-wrong-aud-"));
    const wrong = join(dir, "token");
    await writeFile(wrong, await mintServiceAccountToken("deputy-test-system", "deputy-executor"));
    const wrongAudience = await broker({ jwtPath: wrong })
      .withCredential(
        { role: roleForAction(env.roles, "scale_deployment"), namespace: NS },
        async () => "ran",
      )
      .catch((e: unknown) => e);
    expect(isDeputyError(wrongAudience, "UPSTREAM_FAILED")).toBe(true);
    expect((wrongAudience as Error).message).toMatch(
      new RegExp(`^OpenBao auth/${env.authMount}/login answered (400|403)`),
    );
  });

  it("the executor's OpenBao token can mint Deputy credentials and nothing else", async () => {
    const env2 = loadTestEnv();
    expect(env2.baoAddr).toBe(env.openbao.addr);
    // Log in directly as the executor would and try paths outside its policy.
    const login = (await env.openbao.request("POST", `auth/${env.authMount}/login`, {
      body: { role: env.authRole, jwt: (await readFile(env.jwtPath, "utf8")).trim() },
      schema: ignoredSchema,
    })) as { auth: { client_token: string; lease_duration: number } };
    expect(login.auth.lease_duration).toBe(60);
    const token = login.auth.client_token;
    for (const path of [
      "sys/mounts",
      `${env.secretsMount}/config`,
      "secret/data/deputy/slack",
      `sys/policies/acl/${TEST_POLICY}`,
    ]) {
      const denied = await env.openbao
        .request("GET", path, { token, schema: ignoredSchema })
        .catch((e: unknown) => e);
      expect((denied as { status?: number }).status, path).toBe(403);
    }
    const foreignRevoke = await env.openbao
      .request("PUT", "sys/leases/revoke/auth/token/create/abc", { token, body: {}, schema: ignoredSchema })
      .catch((e: unknown) => e);
    expect((foreignRevoke as { status?: number }).status).toBe(403);
  });
});
