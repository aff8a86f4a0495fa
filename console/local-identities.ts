import { readFileSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ApiException,
  CoreV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  type KubeConfig,
  type KubernetesObject,
} from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { DeputyError, describeError } from "../core/errors.ts";
import { kubeConfigFromToken } from "../core/kube/config.ts";
import type { OpenBaoRoles } from "../core/identity/openbao-roles.ts";

/**
 * Deputy's identities on the cluster local mode runs against, created with
 * the admin kubeconfig at start-up from the same manifests a platform team
 * applies (manifests/base): the read-only `deputy-mcp` bound to
 * `deputy-reader` and allowed to impersonate the dry-run-only `deputy-preview`
 * (whose real writes admission refuses), the `deputy-executor` with no RBAC at all, and OpenBao's
 * own account (`openbao/openbao`) with the rights to create per-action
 * accounts and bindings to Deputy's pre-created roles in the writable
 * namespaces and deputy-jit. Then tokens:
 * the MCP server reads with deputy-mcp's, never with the admin credentials,
 * and the executor's (audience `openbao`) only logs in to OpenBao.
 *
 * The admin kubeconfig is used for nothing after this.
 */

const MANIFESTS = new URL("../manifests/base/", import.meta.url);
const MANIFEST_FILES = [
  "namespaces.yaml",
  "service-accounts.yaml",
  "rbac/deputy-reader.yaml",
  "rbac/deputy-reader-binding.yaml",
  // The dry-run-only preview account, deputy-mcp's right to impersonate it, and the admission
  // policy that refuses its every real write: without the policy nothing can be previewed.
  "rbac/deputy-preview.yaml",
  "rbac/deputy-preview-guard.yaml",
  "rbac/deputy-action-roles.yaml",
  "rbac/openbao-secrets-engine.yaml",
  "rbac/openbao-login-review.yaml",
  // Not rbac/openbao-guard.yaml: a cluster-wide admission policy is the platform
  // team's to install, not something a developer's local run should leave behind.
];
export const SYSTEM_NAMESPACE = "deputy-system";
/** Where the manifests expect OpenBao's service account (the Helm chart's default). */
const OPENBAO_ACCOUNT = { namespace: "openbao", name: "openbao" };
const FIELD_MANAGER = "deputy-local-mode";
const API_AUDIENCE = "https://kubernetes.default.svc";
/** The read token outlives any demo session; the executor's file is refreshed well before expiry. */
const LONG_TOKEN_SECONDS = 24 * 3600;
const EXECUTOR_TOKEN_SECONDS = 3600;
const EXECUTOR_REFRESH_MS = 20 * 60 * 1000;

export interface LocalIdentities {
  /** Read-only kubeconfig (deputy-mcp → deputy-reader) for the MCP server and the watcher. */
  reader: KubeConfig;
  /** The executor's token (audience openbao) in a 0600 file of a private directory, as a projected token would be. */
  executorJwtPath: string;
  secretsEngineJwt: string;
  /** Writable namespaces that do not exist (no OpenBao binding there yet). */
  missingNamespaces: string[];
  close(): Promise<void>;
}

type Obj = KubernetesObject & Record<string, unknown>;

/** The objects local mode applies: the base manifests, with one OpenBao RoleBinding per writable namespace. */
export function localIdentityObjects(roles: OpenBaoRoles): Obj[] {
  const objects: Obj[] = [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: OPENBAO_ACCOUNT.namespace } },
    {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: OPENBAO_ACCOUNT.name, namespace: OPENBAO_ACCOUNT.namespace },
      automountServiceAccountToken: false,
    },
  ];
  for (const file of MANIFEST_FILES) {
    for (const doc of parseAllDocuments(readFileSync(new URL(file, MANIFESTS), "utf8"))) {
      const object = doc.toJS() as Obj | null;
      if (!object) continue;
      // OpenBao's bindings in writable namespaces are generated below from roles.yaml.
      if (
        object.kind === "RoleBinding" &&
        object.metadata?.name === "deputy-openbao-leases" &&
        object.metadata.namespace !== roles.jitNamespace
      )
        continue;
      objects.push(object);
    }
  }
  for (const namespace of roles.writableNamespaces) {
    objects.push({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "deputy-openbao-leases", namespace },
      roleRef: {
        apiGroup: "rbac.authorization.k8s.io",
        kind: "ClusterRole",
        name: "deputy-openbao-leases",
      },
      subjects: [{ kind: "ServiceAccount", ...OPENBAO_ACCOUNT }],
    });
  }
  return objects;
}

export async function prepareLocalIdentities(
  admin: KubeConfig,
  roles: OpenBaoRoles,
): Promise<LocalIdentities> {
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new DeputyError("CONFIG_INVALID", "the admin kubeconfig has no current cluster");
  const objects = KubernetesObjectApi.makeApiClient(admin);
  const core = admin.makeApiClient(CoreV1Api);

  const missingNamespaces: string[] = [];
  for (const object of localIdentityObjects(roles)) {
    const what = `${object.kind} ${object.metadata?.namespace ? `${object.metadata.namespace}/` : ""}${object.metadata?.name}`;
    try {
      await objects.patch(object, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    } catch (error) {
      const namespace = object.metadata?.namespace;
      if (
        error instanceof ApiException &&
        error.code === 404 &&
        namespace &&
        roles.writableNamespaces.includes(namespace)
      ) {
        missingNamespaces.push(namespace);
        continue;
      }
      throw new DeputyError(
        "UPSTREAM_FAILED",
        `could not apply ${what} on ${cluster.server}: ${describeError(error)} ` +
          "(local mode creates Deputy's identities with the kubeconfig's admin rights, once at start-up)",
        { cause: error },
      );
    }
  }

  const mint = async (
    namespace: string,
    name: string,
    audience: string,
    seconds: number,
  ): Promise<string> => {
    try {
      const answer = await core.createNamespacedServiceAccountToken({
        name,
        namespace,
        body: { spec: { audiences: [audience], expirationSeconds: seconds } },
      });
      if (answer.status?.token) return answer.status.token;
      throw new Error("the answer held no token");
    } catch (error) {
      throw new DeputyError(
        "UPSTREAM_FAILED",
        `TokenRequest for ${namespace}/${name} failed: ${describeError(error)}`,
        {
          cause: error,
        },
      );
    }
  };
  const readerToken = await mint(SYSTEM_NAMESPACE, "deputy-mcp", API_AUDIENCE, LONG_TOKEN_SECONDS);
  const openbaoJwt = await mint(
    OPENBAO_ACCOUNT.namespace,
    OPENBAO_ACCOUNT.name,
    API_AUDIENCE,
    LONG_TOKEN_SECONDS,
  );

  const dir = await mkdtemp(join(tmpdir(), "deputy-local-"));
  await chmod(dir, 0o700);
  const executorJwtPath = join(dir, "executor-openbao-token");
  const writeExecutorJwt = async (): Promise<void> => {
    const jwt = await mint(SYSTEM_NAMESPACE, "deputy-executor", "openbao", EXECUTOR_TOKEN_SECONDS);
    await writeFile(executorJwtPath, jwt, { mode: 0o600 });
  };
  try {
    await writeExecutorJwt();
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const refresh = setInterval(() => {
    writeExecutorJwt().catch(() => {
      // If it really expires, the next OpenBao login fails with a clear CREDENTIAL_FAILED.
    });
  }, EXECUTOR_REFRESH_MS);
  refresh.unref();

  const caData = cluster.caData ?? (cluster.caFile ? readFileSync(cluster.caFile, "utf8") : undefined);
  return {
    reader: kubeConfigFromToken({ server: cluster.server, caData, token: readerToken, name: "deputy-mcp" }),
    executorJwtPath,
    secretsEngineJwt: openbaoJwt,
    missingNamespaces,
    async close() {
      clearInterval(refresh);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
