import { readFileSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import { parseAllDocuments, parse } from "yaml";
import {
  OPENBAO_ROLES_FILE,
  parseOpenBaoRoles,
  secretsMounts,
  type OpenBaoRoles,
} from "../../core/identity/openbao-roles.ts";
import type { ClusterEndpoint } from "../../executor/kube-writer.ts";
import { createOpenBaoClient, type OpenBaoClient } from "../../executor/openbao-client.ts";
import { setupOpenBao } from "../../executor/openbao-setup.ts";
import { ensure, serverSideApply } from "../helpers/kube-apply.ts";
import { applyPreviewIdentity } from "../helpers/preview.ts";
import { adminKubeConfig, loadTestEnv, mintServiceAccountToken, type TestEnv } from "../helpers/testenv.ts";

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

export const TEST_MOUNT = "k8s-deputy-prebound";
export const TEST_POLICY = "deputy-executor-prebound";
/** The MCP server's policy under its test name (it reads Deputy's keys, nothing else). */
export const TEST_MCP_POLICY = "deputy-mcp-prebound";
export const TEST_BOT_POLICY = "deputy-bot-prebound";
/** Components' Kubernetes-auth roles the test mount has: all bound to EXECUTOR_NAMESPACE. */
const TEST_AUTH_ROLES = ["deputy-executor", "deputy-mcp", "deputy-bot"];
export const EXECUTOR_NAMESPACE = "deputy-test-system";
export const EXECUTOR_SA = "deputy-executor";
export const JIT_NAMESPACE = "deputy-test-jit";
/** Namespaces the test roles may change: the seeded shop and one per test suite (deputy-w-e2e, deputy-w-runners, deputy-w-approvals, deputy-w-oncall: seeded copies of shop; deputy-w-clusters in two clusters; deputy-w-undo; deputy-w-effect; deputy-w-memory). */
export const WRITABLE = [
  "shop",
  "deputy-w-exec",
  "deputy-w-tools",
  "deputy-w-broker",
  "deputy-w-bench",
  "deputy-w-e2e",
  "deputy-w-runners",
  "deputy-w-approvals",
  "deputy-w-oncall",
  "deputy-w-clusters",
  "deputy-w-undo",
  "deputy-w-effect",
  "deputy-w-memory",
] as const;
const RBAC_DIR = join(import.meta.dirname, "../../manifests/base/rbac");
/**
 * OpenBao's account in the tests: its own, so that the manifests' RBAC and
 * admission guard are the only rights it has, whatever else shares the cluster.
 */
export const OPENBAO_ACCOUNT = { namespace: "deputy-test-openbao", name: "openbao" } as const;
export const OPENBAO_USER = `system:serviceaccount:${OPENBAO_ACCOUNT.namespace}:${OPENBAO_ACCOUNT.name}`;
const READER_ROLE = join(import.meta.dirname, "../../manifests/base/rbac/deputy-reader.yaml");

export interface WriteEnv {
  roles: OpenBaoRoles;
  openbao: OpenBaoClient;
  cluster: ClusterEndpoint;
  /** File holding the executor's token (audience openbao), for DEPUTY_BAO_JWT_PATH. */
  jwtPath: string;
  authMount: string;
  secretsMount: string;
  /** All of the secrets engine's parallel mounts, for the broker's `secretsMounts`. */
  secretsMounts: string[];
  authRole: string;
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

function manifest(file: string): KubernetesObject[] {
  return parseAllDocuments(readFileSync(join(RBAC_DIR, file), "utf8"))
    .map((doc) => doc.toJS() as KubernetesObject | null)
    .filter((doc): doc is KubernetesObject => doc !== null);
}

type Binding = KubernetesObject & { subjects: { kind: string; name: string; namespace?: string }[] };

/**
 * Apply the shipped RBAC for the write path: the pre-created action roles,
 * OpenBao's rights (a RoleBinding in every writable namespace and the jit
 * namespace) and its admission guard, and the login-review binding, with
 * OpenBao's and the components' accounts swapped for the tests' own. Objects
 * with cluster-wide names get a "-test" suffix so local mode's never collide.
 */
async function applyOpenBaoRbac(kc: KubeConfig): Promise<void> {
  const docs = manifest("openbao-secrets-engine.yaml");
  const template = docs.find((doc) => doc.kind === "RoleBinding") as Binding;
  const asTest = (doc: KubernetesObject): KubernetesObject => {
    const copy = structuredClone(doc) as Binding;
    if (copy.kind === "ClusterRoleBinding" || copy.kind === "RoleBinding") {
      copy.subjects = copy.subjects.map((subject) =>
        subject.name === "openbao" ? { ...subject, ...OPENBAO_ACCOUNT } : subject,
      );
    }
    if (copy.kind === "ClusterRoleBinding") copy.metadata = { name: `${copy.metadata!.name}-test` };
    return copy;
  };
  await ensure(kc, { apiVersion: "v1", kind: "Namespace", metadata: { name: OPENBAO_ACCOUNT.namespace } });
  await ensure(kc, { apiVersion: "v1", kind: "ServiceAccount", metadata: { ...OPENBAO_ACCOUNT } });
  // The RBAC itself is applied, not just created, so a changed manifest takes effect in a reused environment.
  for (const doc of manifest("deputy-action-roles.yaml")) await serverSideApply(kc, doc);
  for (const doc of docs.filter((doc) => doc.kind !== "RoleBinding")) await serverSideApply(kc, asTest(doc));
  for (const namespace of [...WRITABLE, JIT_NAMESPACE]) {
    await ensure(kc, { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
    await serverSideApply(kc, {
      ...asTest(template),
      metadata: { name: "deputy-openbao-leases-test", namespace },
    });
  }
  for (const doc of manifest("openbao-guard.yaml")) {
    const copy = structuredClone(doc) as KubernetesObject & { spec: Record<string, unknown> };
    copy.metadata = { name: `${copy.metadata!.name}-test` };
    if (copy.kind === "ValidatingAdmissionPolicyBinding") copy.spec.policyName = copy.metadata.name;
    const text = JSON.stringify(copy).replaceAll("system:serviceaccount:openbao:openbao", OPENBAO_USER);
    await serverSideApply(kc, JSON.parse(text) as KubernetesObject);
  }
  for (const doc of manifest("openbao-login-review.yaml")) {
    const copy = structuredClone(doc) as Binding;
    copy.metadata = { name: `${copy.metadata!.name}-test` };
    copy.subjects = TEST_AUTH_ROLES.map((name) => ({
      kind: "ServiceAccount",
      name,
      namespace: EXECUTOR_NAMESPACE,
    }));
    await serverSideApply(kc, copy);
  }
}

/** The deputy-reader ClusterRole from the manifests, so tests read as the MCP server does. */
export async function applyReaderRole(kc: KubeConfig = adminKubeConfig()): Promise<void> {
  for (const doc of parseAllDocuments(readFileSync(READER_ROLE, "utf8"))) {
    const object = doc.toJS() as KubernetesObject;
    // Applied, not just created: a reused environment gets the role as shipped now.
    if (object?.kind === "ClusterRole") await serverSideApply(kc, object);
  }
}

/** Once per test environment (keyed by its kubeconfig) and process. */
function oncePerEnv<T>(cache: Map<string, Promise<T>>, env: TestEnv, make: () => Promise<T>): Promise<T> {
  let made = cache.get(env.kubeconfig);
  if (!made) {
    made = make();
    cache.set(env.kubeconfig, made);
  }
  return made;
}

const namespaces = new Map<string, Promise<void>>();

/**
 * The Kubernetes side only (no OpenBao): the writable namespaces, OpenBao's
 * RBAC from the manifests, the deputy-reader role and the preview identity. Enough for tests that
 * propose writes but do not run them.
 */
export function prepareNamespaces(env: TestEnv = loadTestEnv()): Promise<void> {
  return oncePerEnv(namespaces, env, async () => {
    const kc = adminKubeConfig(env);
    await applyOpenBaoRbac(kc);
    await applyReaderRole(kc);
    await applyPreviewIdentity(env);
    await ensure(kc, { apiVersion: "v1", kind: "Namespace", metadata: { name: EXECUTOR_NAMESPACE } });
  });
}

const prepared = new Map<string, Promise<WriteEnv>>();

/**
 * Idempotent: safe for every test file (and the benchmark) to call. Another
 * environment (a second cluster) gets the same setup on its own API server
 * and its own OpenBao.
 */
export function prepareWriteEnv(env: TestEnv = loadTestEnv()): Promise<WriteEnv> {
  return oncePerEnv(prepared, env, async () => {
    await prepareNamespaces(env);
    const roles = testRoles();
    const openbao = createOpenBaoClient({ addr: env.baoAddr });
    const caPem = readFileSync(env.caFile, "utf8");
    // OpenBao's own service account, for the secrets engine only (logins review themselves).
    const engineJwt = await mintServiceAccountToken(
      OPENBAO_ACCOUNT.namespace,
      OPENBAO_ACCOUNT.name,
      { expirationSeconds: 24 * 3600 },
      env,
    );
    await setupOpenBao({
      openbao,
      adminToken: env.baoRootToken,
      roles,
      kubernetesHost: env.server,
      kubernetesCaPem: caPem,
      secretsEngineJwt: engineJwt,
    });
    // The executor's token, audience-bound to OpenBao, in a file as a projected volume would be.
    const executorJwt = await mintServiceAccountToken(
      EXECUTOR_NAMESPACE,
      EXECUTOR_SA,
      { audience: "openbao", expirationSeconds: 3600 },
      env,
    );
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
      secretsMounts: secretsMounts(TEST_MOUNT, roles.secretsEngine.parallelMounts),
      authRole: "deputy-executor",
    };
  });
}
