import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  ApiException,
  RbacAuthorizationV1Api,
  type KubeConfig,
  type V1ClusterRole,
} from "@kubernetes/client-node";
import { parse } from "yaml";
import { adminKubeConfig, serviceAccountKubeConfig } from "../helpers/testenv.ts";

const root = join(import.meta.dirname, "../..");

async function ignoreConflict(promise: Promise<unknown>): Promise<void> {
  try {
    await promise;
  } catch (error) {
    if (!(error instanceof ApiException && error.code === 409)) throw error;
  }
}

/**
 * The watcher's production identity: the read-only ClusterRole from
 * manifests/ plus a Role that lets it hold its Lease, nothing else.
 */
export async function watcherKubeConfig(namespace: string, name = "deputy-watcher"): Promise<KubeConfig> {
  const rbac = adminKubeConfig().makeApiClient(RbacAuthorizationV1Api);
  const reader = parse(
    readFileSync(join(root, "manifests/base/rbac/deputy-reader.yaml"), "utf8"),
  ) as V1ClusterRole;
  try {
    await rbac.replaceClusterRole({ name: reader.metadata!.name!, body: reader });
  } catch (error) {
    if (!(error instanceof ApiException && error.code === 404)) throw error;
    await ignoreConflict(rbac.createClusterRole({ body: reader }));
  }
  const kc = await serviceAccountKubeConfig(namespace, name, { clusterRole: reader.metadata!.name! });
  await ignoreConflict(
    rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name: "deputy-watcher-lease", namespace },
        rules: [
          { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update"] },
        ],
      },
    }),
  );
  await ignoreConflict(
    rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: "deputy-watcher-lease", namespace },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "deputy-watcher-lease" },
        subjects: [{ kind: "ServiceAccount", name, namespace }],
      },
    }),
  );
  return kc;
}
