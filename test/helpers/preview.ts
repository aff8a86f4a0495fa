import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { DEFAULT_PREVIEW_IDENTITY, serviceAccountOf } from "../../core/config/config.ts";
import { createPreviewClient } from "../../core/kube/preview.ts";
import { createLogger } from "../../core/observability/logger.ts";
import { ensure, serverSideApply } from "./kube-apply.ts";
import { adminKubeConfig, loadTestEnv, mintServiceAccountToken, type TestEnv } from "./testenv.ts";

/**
 * The preview identity in the test cluster, from the shipped manifests as a
 * platform team applies them: the deputy-preview service account
 * (base/service-accounts.yaml), its write role, the impersonation Role
 * (base/rbac/deputy-preview.yaml) and the dry-run-only admission policy
 * (base/rbac/deputy-preview-guard.yaml). A test's read identity is then
 * allowed to impersonate it with a RoleBinding to the shipped Role, as the
 * shipped binding allows deputy-mcp.
 */

export const PREVIEW_IDENTITY = DEFAULT_PREVIEW_IDENTITY;
export const PREVIEW_ACCOUNT = serviceAccountOf(PREVIEW_IDENTITY);
export const IMPERSONATOR_ROLE = "deputy-preview-impersonator";
const BASE = join(import.meta.dirname, "../../manifests/base");

function documents(file: string): KubernetesObject[] {
  return parseAllDocuments(readFileSync(join(BASE, file), "utf8"))
    .map((doc) => doc.toJS() as KubernetesObject | null)
    .filter((doc): doc is KubernetesObject => doc !== null);
}

/** Every shipped object of the preview identity, in the order they can be applied. */
export function previewObjects(): KubernetesObject[] {
  const account = documents("service-accounts.yaml").filter(
    (doc) => doc.kind === "ServiceAccount" && doc.metadata?.name === PREVIEW_ACCOUNT.name,
  );
  return [
    ...account,
    ...documents("rbac/deputy-preview.yaml"),
    ...documents("rbac/deputy-preview-guard.yaml"),
  ];
}

const applied = new Map<string, Promise<void>>();

/** Apply the shipped preview objects (idempotent, forced server-side apply; once per environment and process). */
export function applyPreviewIdentity(env: TestEnv = loadTestEnv()): Promise<void> {
  let done = applied.get(env.kubeconfig);
  if (!done) {
    done = (async () => {
      const kc = adminKubeConfig(env);
      await ensure(kc, {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: PREVIEW_ACCOUNT.namespace },
      });
      for (const object of previewObjects()) await serverSideApply(kc, object);
    })();
    done.catch(() => applied.delete(env.kubeconfig));
    applied.set(env.kubeconfig, done);
  }
  return done;
}

/** Let a test's read identity impersonate the preview account (the shipped Role, bound to it). */
export async function allowPreviewImpersonation(
  namespace: string,
  account: string,
  env: TestEnv = loadTestEnv(),
): Promise<void> {
  await applyPreviewIdentity(env);
  await serverSideApply(adminKubeConfig(env), {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: `testenv-${namespace}-${account}-preview`, namespace: PREVIEW_ACCOUNT.namespace },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: IMPERSONATOR_ROLE },
    subjects: [{ kind: "ServiceAccount", name: account, namespace }],
  } as KubernetesObject);
}

/**
 * An account with the shipped preview write role that no admission policy
 * names, which `reader` may impersonate: what a cluster without (or with a
 * mismatched) deputy-preview-guard.yaml looks like. Returns its username.
 */
export async function unguardedPreviewAccount(
  account: { namespace: string; name: string },
  reader: { namespace: string; name: string },
  env: TestEnv = loadTestEnv(),
): Promise<string> {
  await applyPreviewIdentity(env);
  await mintServiceAccountToken(account.namespace, account.name, { clusterRole: "deputy-preview" }, env);
  const kc = adminKubeConfig(env);
  const role = `testenv-impersonate-${account.name}`;
  await serverSideApply(kc, {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name: role, namespace: account.namespace },
    rules: [
      {
        apiGroups: [""],
        resources: ["serviceaccounts"],
        verbs: ["impersonate"],
        resourceNames: [account.name],
      },
    ],
  } as KubernetesObject);
  await serverSideApply(kc, {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: `${role}-${reader.namespace}-${reader.name}`, namespace: account.namespace },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role },
    subjects: [{ kind: "ServiceAccount", ...reader }],
  } as KubernetesObject);
  return `system:serviceaccount:${account.namespace}:${account.name}`;
}

/**
 * Wait until the preview self-check passes for `kubeConfig` (a policy just
 * applied is enforced once the API server's informer has it), or fail with
 * the check's own sentence.
 */
export async function waitForUsablePreview(kubeConfig: KubeConfig, timeoutMs = 30_000): Promise<void> {
  const preview = createPreviewClient({
    kubeConfig,
    identity: PREVIEW_IDENTITY,
    probeNamespace: PREVIEW_ACCOUNT.namespace,
    logger: createLogger({ level: "silent" }),
  });
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const health = await preview.check();
      if (health.usable) return;
      if (Date.now() > deadline)
        throw new Error(`the preview identity never became usable: ${health.sentence}`);
      await sleep(250);
    }
  } finally {
    preview.close();
  }
}
