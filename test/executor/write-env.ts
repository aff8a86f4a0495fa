import { readFileSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ApiException,
  KubernetesObjectApi,
  type KubeConfig,
  type KubernetesObject,
} from "@kubernetes/client-node";
import { parseAllDocuments, parse } from "yaml";
import { OPENBAO_ROLES_FILE, parseOpenBaoRoles, type OpenBaoRoles } from "../../core/openbao-roles.ts";
import type { ClusterEndpoint } from "../../executor/kube-writer.ts";
import { createOpenBaoClient, type OpenBaoClient } from "../../executor/openbao-client.ts";
import { setupOpenBao } from "../../executor/openbao-setup.ts";
import { adminKubeConfig, loadTestEnv, mintServiceAccountToken } from "../helpers/testenv.ts";

/**
 * The write path's real surroundings for integration tests: OpenBao (the
 * Vault dev server) configured by executor/openbao-setup.ts from roles.yaml,
 * the secrets engine's service account with manifests/base/rbac's RBAC, and
 * the executor's projected-style token (audience "openbao") in a file.
 *
 * Tests use their own OpenBao mounts and policy name so that local mode or any
 * other suite configuring the default `kubernetes` mounts on the same dev
 * server cannot change the roles under them; everything else is roles.yaml.
 */

export const TEST_MOUNT = "k8s-deputy-test";
export const TEST_POLICY = "deputy-executor-test";
/** The MCP server's policy under its test name (it reads Deputy's keys, nothing else). */
export const TEST_MCP_POLICY = "deputy-mcp-test";
export const TEST_BOT_POLICY = "deputy-bot-test";
/** Components' Kubernetes-auth roles the test mount has: all bound to EXECUTOR_NAMESPACE. */
const TEST_AUTH_ROLES = ["deputy-executor", "deputy-mcp", "deputy-bot"];
export const EXECUTOR_NAMESPACE = "deputy-test-system";
export const EXECUTOR_SA = "deputy-executor";
export const JIT_NAMESPACE = "deputy-test-jit";
/** Namespaces the test roles may change: the seeded shop and one per test suite (deputy-w-e2e: a seeded copy of shop). */
export const WRITABLE = [
  "shop",
  "deputy-w-exec",
  "deputy-w-tools",
  "deputy-w-broker",
  "deputy-w-bench",
  "deputy-w-e2e",
] as const;
const OPENBAO_RBAC = join(import.meta.dirname, "../../manifests/base/rbac/openbao-secrets-engine.yaml");
const READER_ROLE = join(import.meta.dirname, "../../manifests/base/rbac/deputy-reader.yaml");

export interface WriteEnv {
  roles: OpenBaoRoles;
  openbao: OpenBaoClient;
  cluster: ClusterEndpoint;
  /** File holding the executor's token (audience openbao), for DEPUTY_BAO_JWT_PATH. */
  jwtPath: string;
  authMount: string;
  secretsMount: string;
  authRole: string;
}

function status(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

/** Create or leave as is (409), like `kubectl create`, ignoring what exists. */
export async function ensure(kc: KubeConfig, object: KubernetesObject): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  try {
    await api.create(object);
  } catch (error) {
    if (status(error) !== 409) throw error;
  }
}

/** Create, or replace what exists with this exact object. */
async function ensureCurrent(kc: KubeConfig, object: KubernetesObject): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  try {
    await api.create(object);
  } catch (error) {
    if (status(error) !== 409) throw error;
    const live = await api.read({
      apiVersion: object.apiVersion!,
      kind: object.kind!,
      metadata: { name: object.metadata!.name!, namespace: object.metadata?.namespace },
    });
    await api.replace({
      ...object,
      metadata: { ...object.metadata, resourceVersion: live.metadata?.resourceVersion },
    });
  }
}

/** roles.yaml, with the test mounts, policy name, namespaces and executor account. */
export function testRoles(): OpenBaoRoles {
  const doc = parse(readFileSync(OPENBAO_ROLES_FILE, "utf8")) as {
    auth: {
      mount: string;
      roles: { name: string; token_policies: string[]; bound_service_account_namespaces: string[] }[];
    };
    policies: Record<string, { paths: Record<string, string[]> }>;
    secretsEngine: { mount: string };
  };
  const rename = (path: string): string => path.replace(/(^|\/)kubernetes\//, `$1${TEST_MOUNT}/`);
  const testNames: Record<string, string> = {
    "deputy-executor": TEST_POLICY,
    "deputy-mcp": TEST_MCP_POLICY,
    "deputy-bot": TEST_BOT_POLICY,
  };
  const testName = (name: string): string => testNames[name] ?? name;
  doc.policies = Object.fromEntries(
    Object.entries(doc.policies).map(([name, policy]) => [
      testName(name),
      { paths: Object.fromEntries(Object.entries(policy.paths).map(([path, caps]) => [rename(path), caps])) },
    ]),
  );
  doc.auth.mount = TEST_MOUNT;
  doc.secretsEngine.mount = TEST_MOUNT;
  doc.auth.roles = doc.auth.roles
    .filter((role) => TEST_AUTH_ROLES.includes(role.name))
    .map((role) => ({
      ...role,
      token_policies: role.token_policies.map(testName),
      bound_service_account_namespaces: [EXECUTOR_NAMESPACE],
    }));
  doc.policies = Object.fromEntries(
    Object.entries(doc.policies).filter(([name]) => Object.values(testNames).includes(name)),
  );
  return parseOpenBaoRoles(doc, { writableNamespaces: [...WRITABLE], jitNamespace: JIT_NAMESPACE });
}

/** Apply manifests/base/rbac/openbao-secrets-engine.yaml, with a RoleBinding in every writable namespace. */
async function applyOpenBaoRbac(kc: KubeConfig): Promise<void> {
  const docs = parseAllDocuments(readFileSync(OPENBAO_RBAC, "utf8")).map(
    (doc) => doc.toJS() as KubernetesObject,
  );
  const template = docs.find((doc) => doc.kind === "RoleBinding");
  const others = docs.filter((doc) => doc.kind !== "RoleBinding");
  await ensure(kc, { apiVersion: "v1", kind: "Namespace", metadata: { name: "openbao" } });
  await ensure(kc, {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name: "openbao", namespace: "openbao" },
  });
  // The RBAC itself is replaced, not just created, so a changed manifest takes effect in a reused environment.
  for (const doc of others) await ensureCurrent(kc, doc);
  for (const namespace of [...WRITABLE, JIT_NAMESPACE]) {
    await ensure(kc, { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
    await ensure(kc, { ...structuredClone(template!), metadata: { name: "deputy-openbao", namespace } });
  }
}

/** The deputy-reader ClusterRole from the manifests, so tests read as the MCP server does. */
export async function applyReaderRole(kc: KubeConfig = adminKubeConfig()): Promise<void> {
  for (const doc of parseAllDocuments(readFileSync(READER_ROLE, "utf8"))) {
    const object = doc.toJS() as KubernetesObject;
    if (object?.kind === "ClusterRole") await ensure(kc, object);
  }
}

let namespaces: Promise<void> | undefined;

/**
 * The Kubernetes side only (no OpenBao): the writable namespaces, OpenBao's
 * RBAC from the manifests, and the deputy-reader role. Enough for tests that
 * propose writes but do not run them.
 */
export function prepareNamespaces(): Promise<void> {
  namespaces ??= (async () => {
    const kc = adminKubeConfig();
    await applyOpenBaoRbac(kc);
    await applyReaderRole(kc);
    await ensure(kc, { apiVersion: "v1", kind: "Namespace", metadata: { name: EXECUTOR_NAMESPACE } });
  })();
  return namespaces;
}

let prepared: Promise<WriteEnv> | undefined;

/** Idempotent: safe for every test file (and the benchmark) to call. */
export function prepareWriteEnv(): Promise<WriteEnv> {
  prepared ??= (async () => {
    const env = loadTestEnv();
    await prepareNamespaces();
    const roles = testRoles();
    const openbao = createOpenBaoClient({ addr: env.baoAddr });
    const caPem = readFileSync(env.caFile, "utf8");
    // OpenBao's own service account: token reviewer and secrets engine.
    const engineJwt = await mintServiceAccountToken("openbao", "openbao", { expirationSeconds: 24 * 3600 });
    await setupOpenBao({
      openbao,
      adminToken: env.baoRootToken,
      roles,
      kubernetesHost: env.server,
      kubernetesCaPem: caPem,
      tokenReviewerJwt: engineJwt,
      secretsEngineJwt: engineJwt,
    });
    // The executor's token, audience-bound to OpenBao, in a file as a projected volume would be.
    const executorJwt = await mintServiceAccountToken(EXECUTOR_NAMESPACE, EXECUTOR_SA, {
      audience: "openbao",
      expirationSeconds: 3600,
    });
    const dir = await mkdtemp(join(tmpdir(), "deputy-executor-"));
    const jwtPath = join(dir, "token");
    await writeFile(jwtPath, executorJwt, { mode: 0o600 });
    return {
      roles,
      openbao,
      cluster: { server: env.server, caPem },
      jwtPath,
      authMount: TEST_MOUNT,
      secretsMount: TEST_MOUNT,
      authRole: "deputy-executor",
    };
  })();
  return prepared;
}
