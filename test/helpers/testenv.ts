import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { appendFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ApiException, CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from "@kubernetes/client-node";
import { DeputyError } from "../../core/errors.ts";
import { testEnvLayout } from "../../devenv/layout.ts";
import { SEED, seedCluster as seedWith } from "../../devenv/seed.ts";
import type { TestEnvState } from "../../devenv/testenv.ts";

/**
 * What integration tests use to reach the local test environment, which
 * vitest's global setup has already brought up and seeded:
 *
 *   const admin = adminKubeConfig();                       // system:masters
 *   const reader = await serviceAccountKubeConfig(ns, "reader", { clusterRole: "view" });
 *   const ns = await freshNamespace("restart");            // your own sandbox
 *   await writePodLog(ns, pod, "app", "line 1\nline 2\n"); // served via pods/log
 */
export interface TestEnv {
  kubeconfig: string;
  server: string;
  caFile: string;
  baoAddr: string;
  /** Root token of the Vault dev server (OpenBao API): setup only, never Deputy's identity. */
  baoRootToken: string;
  redisUrl: string;
  logsDir: string;
  /** Service-account token issuer, for OpenBao's Kubernetes auth config. */
  serviceAccountIssuer: string;
}

export { SEED };

/** The shared test environment, or the one in `dir` (a second cluster beside it). */
export function loadTestEnv(dir?: string): TestEnv {
  const layout = testEnvLayout(dir);
  let state: TestEnvState;
  try {
    state = JSON.parse(readFileSync(layout.envJson, "utf8")) as TestEnvState;
  } catch (error) {
    throw new DeputyError(
      "TESTENV_FAILED",
      `no test environment (${layout.envJson} unreadable); run "npm run testenv:up" or the tests through vitest's global setup`,
      { cause: error },
    );
  }
  return {
    kubeconfig: state.kubeconfig,
    server: state.server,
    caFile: state.caFile,
    baoAddr: state.baoAddr,
    baoRootToken: state.baoRootToken,
    redisUrl: state.redisUrl,
    logsDir: state.logsDir,
    serviceAccountIssuer: state.serviceAccountIssuer,
  };
}

export function adminKubeConfig(env: TestEnv = loadTestEnv()): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubeconfig);
  return kc;
}

function status(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

async function ignoreConflict(promise: Promise<unknown>): Promise<void> {
  try {
    await promise;
  } catch (error) {
    if (status(error) !== 409) throw error;
  }
}

export interface ServiceAccountOptions {
  /** Bind this ClusterRole cluster-wide (e.g. "view", "edit"); no binding when omitted. */
  clusterRole?: string;
  /** Token audience; defaults to the API server's own ("https://kubernetes.default.svc"). */
  audience?: string;
  /** Token lifetime; Kubernetes refuses anything under 600. Defaults to 3600. */
  expirationSeconds?: number;
}

/** Create the ServiceAccount (and optional ClusterRoleBinding) if needed and mint a token with TokenRequest. */
export async function mintServiceAccountToken(
  namespace: string,
  name: string,
  options: ServiceAccountOptions = {},
  env: TestEnv = loadTestEnv(),
): Promise<string> {
  const admin = adminKubeConfig(env);
  const core = admin.makeApiClient(CoreV1Api);
  await ignoreConflict(core.createNamespace({ body: { metadata: { name: namespace } } }));
  await ignoreConflict(
    core.createNamespacedServiceAccount({ namespace, body: { metadata: { name, namespace } } }),
  );
  if (options.clusterRole) {
    const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
    await ignoreConflict(
      rbac.createClusterRoleBinding({
        body: {
          metadata: { name: `testenv:${namespace}:${name}:${options.clusterRole}` },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: options.clusterRole },
          subjects: [{ kind: "ServiceAccount", name, namespace }],
        },
      }),
    );
  }
  const request = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: {
      spec: {
        audiences: [options.audience ?? "https://kubernetes.default.svc"],
        expirationSeconds: options.expirationSeconds ?? 3600,
      },
    },
  });
  const token = request.status?.token;
  if (!token)
    throw new DeputyError("TESTENV_FAILED", `TokenRequest for ${namespace}/${name} returned no token`);
  return token;
}

/** A kubeconfig that authenticates as a (least-privilege) service account with a TokenRequest token. */
export async function serviceAccountKubeConfig(
  namespace: string,
  name: string,
  options: ServiceAccountOptions = {},
  env: TestEnv = loadTestEnv(),
): Promise<KubeConfig> {
  const token = await mintServiceAccountToken(namespace, name, options, env);
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "testenv", server: env.server, caFile: env.caFile }],
    users: [{ name: `${namespace}:${name}`, token }],
    contexts: [{ name: "testenv", cluster: "testenv", user: `${namespace}:${name}`, namespace }],
    currentContext: "testenv",
  });
  return kc;
}

/** The troubled `shop` namespace (idempotent; restores seeded fields a test changed). */
export async function seedCluster(): Promise<void> {
  await seedWith(adminKubeConfig());
}

/** A new, empty namespace for one test file to change freely. */
export async function freshNamespace(prefix: string): Promise<string> {
  const base =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 40) || "test";
  const name = `${base}-${randomBytes(3).toString("hex")}`;
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespace({
    body: { metadata: { name, labels: { "testenv.deputy.dev/fresh": "true" } } },
  });
  return name;
}

/**
 * A seeded copy of the troubled `shop` namespace under the given name: the
 * same workloads, statuses, logs and injection text, for one test file to
 * restart, delete and count pods in while others use `shop`. Idempotent:
 * seeding again restores the seeded fields.
 */
export async function seededCopyOfShop(namespace: string): Promise<string> {
  await seedWith(adminKubeConfig(), { namespace });
  return namespace;
}

/** Delete a namespace made by freshNamespace (the namespace controller removes its contents). */
export async function deleteNamespace(name: string): Promise<void> {
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  try {
    await core.deleteNamespace({ name });
  } catch (error) {
    if (status(error) !== 404) throw error;
  }
}

const LOG_SEGMENT = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/**
 * Put a container log where the fake kubelet serves it (pods/log through the
 * API server). Replaces the file unless `append`; `previous` writes the log
 * of the previous (terminated) container instead.
 */
export async function writePodLog(
  namespace: string,
  pod: string,
  container: string,
  text: string,
  options: { previous?: boolean; append?: boolean } = {},
): Promise<string> {
  for (const [what, value] of [
    ["namespace", namespace],
    ["pod", pod],
    ["container", container],
  ] as const) {
    if (!LOG_SEGMENT.test(value))
      throw new DeputyError("INPUT_INVALID", `writePodLog: invalid ${what} "${value}"`);
  }
  const dir = join(loadTestEnv().logsDir, namespace, pod);
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${container}${options.previous ? ".previous" : ""}.log`);
  await (options.append ? appendFile(file, text) : writeFile(file, text));
  return file;
}

/** Retry `check` until it returns a value that is not undefined/false, or fail naming `what`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await sleep(options.intervalMs ?? 250);
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
}
