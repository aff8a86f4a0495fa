import { DeputyError } from "../../../../core/errors.ts";
import type { Pod } from "../../../../core/kube/types.ts";
import type { McpDeps } from "../../../deps.ts";
import { notFound } from "./scope.ts";

/** Read a pod, turning a 404 into "namespace missing" or "pod missing, did you mean …". */
export async function readPodClearly(
  deps: McpDeps,
  namespace: string,
  name: string,
  signal?: AbortSignal,
): Promise<Pod> {
  try {
    return await deps.kube.core.readPod(namespace, name, signal);
  } catch (error) {
    return notFound(
      deps,
      error,
      {
        kind: "pod",
        namespace,
        name,
        candidates: async () =>
          (await deps.kube.core.listPods(namespace, { limit: 500, signal })).items.map(
            (p) => p.metadata?.name ?? "",
          ),
      },
      signal,
    );
  }
}

/** The container a command means: the named one (which must exist), the default annotation, or the first. */
export function chooseContainer(pod: Pod, wanted: string | undefined): { name: string; note?: string } {
  const containers = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].map(
    (c) => c.name,
  );
  const ref = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
  if (wanted !== undefined) {
    if (!containers.includes(wanted)) {
      throw new DeputyError(
        "INPUT_INVALID",
        `pod ${ref} has no container "${wanted}"; its containers are: ${containers.join(", ") || "(none)"}`,
      );
    }
    return { name: wanted };
  }
  const annotated = pod.metadata?.annotations?.["kubectl.kubernetes.io/default-container"];
  const main = pod.spec?.containers ?? [];
  const chosen = annotated && containers.includes(annotated) ? annotated : main[0]?.name;
  if (!chosen) throw new DeputyError("INPUT_INVALID", `pod ${ref} has no containers`);
  return main.length > 1
    ? {
        name: chosen,
        note: `pod has ${main.length} containers (${main.map((c) => c.name).join(", ")}); showing ${chosen}`,
      }
    : { name: chosen };
}

/** The pods a workload name refers to: Deployment, StatefulSet or DaemonSet of that name. */
export async function podsOfWorkload(
  deps: McpDeps,
  namespace: string,
  name: string,
  signal?: AbortSignal,
): Promise<{ kind: string; pods: Pod[] } | undefined> {
  const readers: [
    string,
    () => Promise<{ spec?: { selector?: { matchLabels?: Record<string, string> } } }>,
  ][] = [
    ["Deployment", () => deps.kube.apps.readDeployment(namespace, name, signal)],
    ["StatefulSet", () => deps.kube.apps.readStatefulSet(namespace, name, signal)],
    [
      "DaemonSet",
      () =>
        deps.kube.get(
          `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/daemonsets/${encodeURIComponent(name)}`,
          undefined,
          signal,
        ),
    ],
  ];
  for (const [kind, read] of readers) {
    let workload;
    try {
      workload = await read();
    } catch {
      continue;
    }
    const labels = workload.spec?.selector?.matchLabels ?? {};
    const selector = Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    if (!selector) continue;
    const pods = await deps.kube.core.listPods(namespace, { labelSelector: selector, maxItems: 200, signal });
    return { kind, pods: pods.items };
  }
  return undefined;
}
