import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ApiException, CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { eventually, freshNamespace, loadTestEnv, mintServiceAccountToken } from "../helpers/testenv.ts";

/**
 * The Vault dev server stands in for OpenBao (same HTTP API). These prove the
 * environment supports the JIT-credential path end to end against the real
 * API server: Kubernetes auth login (TokenReview, audience-bound) and the
 * Kubernetes secrets engine (generated ServiceAccount whose token dies with
 * the lease).
 */
async function bao(
  path: string,
  body?: unknown,
  token = loadTestEnv().baoRootToken,
): Promise<Record<string, unknown>> {
  const response = await fetch(`${loadTestEnv().baoAddr}/v1/${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "X-Vault-Token": token, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  const parsed = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
  if (!response.ok)
    throw new Error(`${path}: HTTP ${response.status}: ${JSON.stringify(parsed.errors ?? parsed)}`);
  return parsed;
}

function suffix(): string {
  return randomBytes(4).toString("hex");
}

describe("OpenBao API (Vault dev server) against the real API server", () => {
  const env = loadTestEnv();
  const ca = readFileSync(env.caFile, "utf8");

  it("logs in with an audience-bound service-account token through Kubernetes auth", async () => {
    const ns = await freshNamespace("bao-auth");
    const reviewer = await mintServiceAccountToken(ns, "token-reviewer", {
      clusterRole: "system:auth-delegator",
    });
    const mount = `k8s-${suffix()}`;
    await bao(`sys/auth/${mount}`, { type: "kubernetes" });
    await bao(`auth/${mount}/config`, {
      kubernetes_host: env.server,
      kubernetes_ca_cert: ca,
      token_reviewer_jwt: reviewer,
    });
    await bao(`auth/${mount}/role/executor`, {
      bound_service_account_names: ["executor"],
      bound_service_account_namespaces: [ns],
      audience: "openbao",
      token_ttl: "60s",
      token_policies: ["default"],
    });

    const jwt = await mintServiceAccountToken(ns, "executor", { audience: "openbao" });
    const login = await bao(`auth/${mount}/login`, { role: "executor", jwt }, "");
    const auth = login.auth as { client_token: string; lease_duration: number };
    expect(auth.client_token).toMatch(/^hvs\./);
    expect(auth.lease_duration).toBe(60);

    const stranger = await mintServiceAccountToken(ns, "stranger", { audience: "openbao" });
    await expect(bao(`auth/${mount}/login`, { role: "executor", jwt: stranger }, "")).rejects.toThrow(
      /HTTP 403/,
    );
    const wrongAudience = await mintServiceAccountToken(ns, "executor");
    await expect(bao(`auth/${mount}/login`, { role: "executor", jwt: wrongAudience }, "")).rejects.toThrow(
      /HTTP 403/,
    );
  });

  it("mints a namespace-scoped credential whose token dies when the lease is revoked", async () => {
    const ns = await freshNamespace("bao-creds");
    const brokerJwt = await mintServiceAccountToken(ns, "secrets-engine", { clusterRole: "cluster-admin" });
    const mount = `kube-${suffix()}`;
    await bao(`sys/mounts/${mount}`, { type: "kubernetes" });
    await bao(`${mount}/config`, {
      kubernetes_host: env.server,
      kubernetes_ca_cert: ca,
      service_account_jwt: brokerJwt,
      disable_local_ca_jwt: true,
    });
    await bao(`${mount}/roles/restart`, {
      allowed_kubernetes_namespaces: [ns],
      token_default_ttl: "10m",
      kubernetes_role_type: "Role",
      generated_role_rules: JSON.stringify({
        rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["create", "get"] }],
      }),
    });

    const creds = await bao(`${mount}/creds/restart`, { kubernetes_namespace: ns });
    const leaseId = creds.lease_id as string;
    const token = (creds.data as { service_account_token: string }).service_account_token;
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "t", server: env.server, caFile: env.caFile }],
      users: [{ name: "jit", token }],
      contexts: [{ name: "t", cluster: "t", user: "jit" }],
      currentContext: "t",
    });
    const jit = kc.makeApiClient(CoreV1Api);
    await jit.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "made-by-jit" } } });
    const other = await freshNamespace("bao-other");
    const outside = await jit
      .createNamespacedConfigMap({ namespace: other, body: { metadata: { name: "nope" } } })
      .then(
        () => 0,
        (error: unknown) => (error instanceof ApiException ? error.code : -1),
      );
    expect(outside).toBe(403);

    await bao("sys/leases/revoke", { lease_id: leaseId });
    const status = await eventually("the revoked token to be refused", async () => {
      const code = await jit.readNamespacedConfigMap({ name: "made-by-jit", namespace: ns }).then(
        () => 200,
        (error: unknown) => (error instanceof ApiException ? error.code : -1),
      );
      return code === 401 ? code : undefined;
    });
    expect(status).toBe(401);
  });
});
