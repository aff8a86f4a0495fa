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
