import { DeputyError } from "../core/errors.ts";
import { roleForAction, type OpenBaoRoles, type SecretsRole } from "../core/openbao-roles.ts";

/**
 * Which OpenBao secrets-engine role an action runs under. The roles
 * themselves (generated RBAC rules per action type) live in
 * manifests/openbao/roles.yaml, read through core/openbao-roles.ts, so setup,
 * broker and tests use one description.
 */

/** Kinds apply_manifest accepts, and where they live. Never RBAC, Secrets, CRDs, webhooks or Namespaces. */
export const APPLY_KINDS = {
  ConfigMap: { apiVersion: "v1", resource: "configmaps" },
  Service: { apiVersion: "v1", resource: "services" },
  Deployment: { apiVersion: "apps/v1", resource: "deployments" },
  StatefulSet: { apiVersion: "apps/v1", resource: "statefulsets" },
  DaemonSet: { apiVersion: "apps/v1", resource: "daemonsets" },
  Job: { apiVersion: "batch/v1", resource: "jobs" },
  CronJob: { apiVersion: "batch/v1", resource: "cronjobs" },
  HorizontalPodAutoscaler: { apiVersion: "autoscaling/v2", resource: "horizontalpodautoscalers" },
  PodDisruptionBudget: { apiVersion: "policy/v1", resource: "poddisruptionbudgets" },
  Ingress: { apiVersion: "networking.k8s.io/v1", resource: "ingresses" },
} as const;
export type ApplyKind = keyof typeof APPLY_KINDS;

export function isApplyKind(kind: string): kind is ApplyKind {
  return Object.hasOwn(APPLY_KINDS, kind);
}

/** API path of a namespaced object of an allowed kind. */
export function applyObjectPath(kind: ApplyKind, namespace: string, name?: string): string {
  const { apiVersion, resource } = APPLY_KINDS[kind];
  const base = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const collection = `${base}/namespaces/${encodeURIComponent(namespace)}/${resource}`;
  return name === undefined ? collection : `${collection}/${encodeURIComponent(name)}`;
}

/** The role an action runs under, from its tool and (for apply_manifest) the manifest's kind. */
export function roleFor(roles: OpenBaoRoles, tool: string, args: Record<string, unknown>): SecretsRole {
  if (tool === "apply_manifest") {
    const kind = args.kind;
    if (typeof kind !== "string" || !isApplyKind(kind)) {
      throw new DeputyError(
        "INPUT_INVALID",
        `apply_manifest: kind ${String(kind)} is not one Deputy may apply`,
      );
    }
    return roleForAction(roles, tool, kind);
  }
  return roleForAction(roles, tool);
}
