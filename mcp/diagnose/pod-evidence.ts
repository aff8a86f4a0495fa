import { describeError } from "../../core/errors.ts";
import type { KubeClients } from "../../core/kube/client.ts";
import type { Node, Pod } from "../../core/kube/types.ts";
import { analysePod } from "./pod.ts";
import type { ContainerLog, Diagnosis, PodEvidence } from "./types.ts";

/**
 * What the pod analyser reads, gathered one way for every caller — the
 * troubleshoot_pod tool in chat and the triage watcher alike — so the same
 * pod is diagnosed the same way wherever it is asked about: its events, its
 * node, and the log of each container that failed (the previous run's, which
 * explains a crash, else the current one).
 */
const LOG_LINES = 60;

/** Containers worth reading a log of: restarted, terminated, or crash-looping. */
export function failedContainers(pod: Pod): string[] {
  return [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]
    .filter(
      (s) =>
        (s.restartCount ?? 0) > 0 ||
        s.state?.terminated !== undefined ||
        s.lastState?.terminated !== undefined ||
        s.state?.waiting?.reason === "CrashLoopBackOff",
    )
    .map((s) => s.name);
}

export async function gatherPodEvidence(
  kube: KubeClients,
  pod: Pod,
  signal: AbortSignal,
): Promise<PodEvidence> {
  const namespace = pod.metadata?.namespace ?? "";
  const name = pod.metadata?.name ?? "";
  const readLog = async (container: string, previous: boolean): Promise<ContainerLog> => {
    try {
      const tail = await kube.logs.tail(namespace, name, {
        container,
        previous,
        tailLines: LOG_LINES,
        signal,
      });
      return { container, previous, lines: tail.lines };
    } catch (error) {
      return { container, previous, lines: [], error: describeError(error) };
    }
  };
  const [events, node, logs] = await Promise.all([
    kube.events.forObject({ kind: "Pod", namespace, name, uid: pod.metadata?.uid }, signal),
    pod.spec?.nodeName
      ? kube.core.readNode(pod.spec.nodeName, signal).catch((): Node | undefined => undefined)
      : Promise.resolve(undefined),
    Promise.all(
      failedContainers(pod).map(async (container) => {
        const previous = await readLog(container, true);
        if (previous.lines.length > 0) return previous;
        const current = await readLog(container, false);
        return current.lines.length > 0 ? current : previous;
      }),
    ),
  ]);
  return { pod, events, logs, node };
}

/** Gather, then analyse: the one path troubleshoot_pod and the triage watcher both take. */
export async function diagnosePod(kube: KubeClients, pod: Pod, signal: AbortSignal): Promise<Diagnosis> {
  return analysePod(await gatherPodEvidence(kube, pod, signal));
}
