import { DeputyError } from "../../../../core/errors.ts";
import type { Deployment, Pod, PodDisruptionBudget } from "../../../../core/kube/types.ts";
import type { ActionTarget } from "../../../../core/actions/schema.ts";
import type { McpDeps } from "../../../deps.ts";
import { namespacePolicy, notFound } from "../../read/support/scope.ts";

/**
 * Reading the target of a write with the server's read-only identity: the
 * object itself (uid, resourceVersion and generation become the execution
 * preconditions), the pods it affects and the budgets covering them.
 */

export function targetOf(
  kind: string,
  object: {
    metadata?: {
      namespace?: string;
      name?: string;
      uid?: string;
      resourceVersion?: string;
      generation?: number;
    };
  },
): ActionTarget {
  const meta = object.metadata ?? {};
  return {
    kind,
    ...(meta.namespace ? { namespace: meta.namespace } : {}),
    name: meta.name ?? "",
    ...(meta.uid ? { uid: meta.uid } : {}),
    ...(meta.resourceVersion ? { resourceVersion: meta.resourceVersion } : {}),
    ...(meta.generation !== undefined ? { generation: meta.generation } : {}),
  };
}

export async function readDeployment(
  deps: McpDeps,
  namespace: string,
  name: string,
  signal: AbortSignal,
): Promise<Deployment> {
  namespacePolicy(deps).assert(namespace);
  return deps.kube.apps.readDeployment(namespace, name, signal).catch((error: unknown) =>
    notFound(
      deps,
      error,
      {
        kind: "Deployment",
        namespace,
        name,
        candidates: async () =>
          (await deps.kube.apps.listDeployments(namespace, { limit: 500, signal })).items.map(
            (d) => d.metadata?.name ?? "",
          ),
      },
      signal,
    ),
  );
}

export function matchLabelsSelector(labels: Record<string, string> | undefined): string | undefined {
  const text = Object.entries(labels ?? {})
    .map(([key, value]) => `${key}=${value}`)
    .join(",");
  return text || undefined;
}

/** Pods of a deployment (by its selector's matchLabels). */
export async function podsOfDeployment(
  deps: McpDeps,
  deployment: Deployment,
  signal: AbortSignal,
): Promise<Pod[]> {
  const selector = matchLabelsSelector(deployment.spec?.selector?.matchLabels);
  if (!selector) return [];
  const pods = await deps.kube.core.listPods(deployment.metadata?.namespace, {
    labelSelector: selector,
    maxItems: 500,
    signal,
  });
  return pods.items;
}

export async function budgetsIn(
  deps: McpDeps,
  namespace: string | undefined,
  signal: AbortSignal,
): Promise<PodDisruptionBudget[]> {
  return (await deps.kube.policy.listPodDisruptionBudgets(namespace, { maxItems: 1000, signal })).items;
}

export function podName(pod: Pod): string {
  return `${pod.metadata?.namespace}/${pod.metadata?.name}`;
}

export function podNames(pods: readonly Pod[]): string[] {
  return pods.map(podName);
}

/** A Deployment's pod spec as plain JSON, for the pod-spec analysis and the view. */
export function podSpecOf(deployment: Deployment): Record<string, unknown> {
  return structuredClone(deployment.spec?.template.spec ?? {}) as Record<string, unknown>;
}

export function containerNames(deployment: Deployment): string[] {
  return (deployment.spec?.template.spec?.containers ?? []).map((c) => c.name);
}

type Container = NonNullable<NonNullable<Deployment["spec"]>["template"]["spec"]>["containers"][number];

/** The named container of a Deployment's pod template, or a clear error listing the ones it has. */
export function containerOf(deployment: Deployment, name: string): Container {
  const container = deployment.spec?.template.spec?.containers.find((c) => c.name === name);
  if (!container) {
    throw new DeputyError(
      "INPUT_INVALID",
      `Deployment ${deployment.metadata?.namespace}/${deployment.metadata?.name} has no container "${name}"; its containers are ${containerNames(deployment).join(", ")}.`,
    );
  }
  return container;
}
