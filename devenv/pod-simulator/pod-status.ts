import type { CoreV1Api, V1Pod } from "@kubernetes/client-node";
import type { Logger } from "../../core/observability/logger.ts";
import { FAKE_NODES, MERGE_PATCH, modeOf, shortHash, statusCode, type SimulationMode } from "./modes.ts";

/**
 * The kubelet's pod side: the status a pod in each simulation mode shows
 * (phase, conditions, container states), whether it shows it already, and
 * the restart counts that keep climbing for crashing containers.
 */

export function statusMatches(pod: V1Pod, mode: SimulationMode): boolean {
  const statuses = pod.status?.containerStatuses ?? [];
  if (statuses.length !== (pod.spec?.containers.length ?? 0) || statuses.length === 0) return false;
  switch (mode) {
    case "running":
      return pod.status?.phase === "Running" && statuses.every((s) => s.ready && s.state?.running);
    case "crashloop":
      return statuses.every((s) => s.state?.waiting?.reason === "CrashLoopBackOff");
    case "oomkilled":
      return statuses.every((s) => s.state?.terminated?.reason === "OOMKilled");
    case "imagepull":
      return statuses.every((s) => s.state?.waiting?.reason === "ImagePullBackOff");
    case "pending":
      // A pending pod that someone bound anyway just sits in ContainerCreating.
      return statuses.every((s) => s.state?.waiting?.reason === "ContainerCreating");
  }
}

export function desiredStatus(pod: V1Pod, mode: SimulationMode): Record<string, unknown> {
  const now = new Date().toISOString();
  const created = (pod.metadata?.creationTimestamp as unknown as string | undefined) ?? now;
  const uid = pod.metadata!.uid!;
  const running = mode === "running";
  const notReady = (reason: string): string =>
    `containers with unready status: [${pod.spec!.containers.map((c) => c.name).join(" ")}]${reason}`;
  const conditions = [
    {
      type: "PodReadyToStartContainers",
      status: mode === "imagepull" || mode === "pending" ? "False" : "True",
    },
    { type: "Initialized", status: "True" },
    running
      ? { type: "Ready", status: "True" }
      : { type: "Ready", status: "False", reason: "ContainersNotReady", message: notReady("") },
    running
      ? { type: "ContainersReady", status: "True" }
      : { type: "ContainersReady", status: "False", reason: "ContainersNotReady", message: notReady("") },
    { type: "PodScheduled", status: "True" },
  ].map((condition) => ({ ...condition, lastProbeTime: null, lastTransitionTime: now }));

  const containerStatuses = pod.spec!.containers.map((container) => {
    const previous = pod.status?.containerStatuses?.find((s) => s.name === container.name);
    const containerId = `containerd://${shortHash(`${uid}/${container.name}/${previous?.restartCount ?? 0}`)}`;
    const image = container.image ?? "";
    const base = {
      name: container.name,
      image,
      imageID: mode === "imagepull" ? "" : `${image.split(":")[0]}@sha256:${shortHash(image)}`,
      ...(mode === "imagepull" || mode === "pending" ? {} : { containerID: containerId }),
    };
    const lastExit = (reason: string, exitCode: number) => ({
      terminated: {
        exitCode,
        reason,
        startedAt: new Date(Date.now() - 45_000).toISOString(),
        finishedAt: new Date(Date.now() - 15_000).toISOString(),
        containerID: containerId,
      },
    });
    switch (mode) {
      case "running":
        return {
          ...base,
          ready: true,
          started: true,
          restartCount: previous?.restartCount ?? 0,
          state: { running: { startedAt: now } },
          lastState: previous?.lastState ?? {},
        };
      case "crashloop":
        return {
          ...base,
          ready: false,
          started: false,
          restartCount: Math.max(previous?.restartCount ?? 0, 5),
          state: {
            waiting: {
              reason: "CrashLoopBackOff",
              message: `back-off 5m0s restarting failed container=${container.name} pod=${pod.metadata!.name}_${pod.metadata!.namespace}(${uid})`,
            },
          },
          lastState: lastExit("Error", 1),
        };
      case "oomkilled":
        return {
          ...base,
          ready: false,
          started: false,
          restartCount: Math.max(previous?.restartCount ?? 0, 3),
          state: lastExit("OOMKilled", 137),
          lastState: lastExit("OOMKilled", 137),
        };
      case "imagepull":
        return {
          ...base,
          ready: false,
          started: false,
          restartCount: 0,
          state: {
            waiting: {
              reason: "ImagePullBackOff",
              message: `Back-off pulling image "${image}": ErrImagePull: failed to pull and unpack image "${image}": failed to resolve reference "${image}": ${image}: not found`,
            },
          },
          lastState: {},
        };
      case "pending":
        return {
          ...base,
          ready: false,
          started: false,
          restartCount: 0,
          state: { waiting: { reason: "ContainerCreating" } },
          lastState: {},
        };
    }
  });

  const nodeIndex = Math.max(
    0,
    FAKE_NODES.findIndex((node) => node.name === pod.spec!.nodeName),
  );
  const ipByte = (Number.parseInt(shortHash(uid, 2), 16) % 250) + 2;
  const podIP = `10.244.${nodeIndex + 1}.${ipByte}`;
  return {
    phase: mode === "imagepull" || mode === "pending" ? "Pending" : "Running",
    conditions,
    hostIP: "127.0.0.1",
    hostIPs: [{ ip: "127.0.0.1" }],
    ...(mode === "imagepull" || mode === "pending" ? {} : { podIP, podIPs: [{ ip: podIP }] }),
    startTime: created,
    qosClass: pod.status?.qosClass ?? "BestEffort",
    containerStatuses,
  };
}

export async function restartCrashingContainers(
  core: CoreV1Api,
  pods: readonly V1Pod[],
  logger: Logger,
): Promise<void> {
  for (const pod of pods) {
    const mode = modeOf(pod);
    if (
      (mode !== "crashloop" && mode !== "oomkilled") ||
      !pod.spec?.nodeName ||
      pod.metadata?.deletionTimestamp
    )
      continue;
    if (!statusMatches(pod, mode)) continue;
    const containerStatuses = (pod.status?.containerStatuses ?? []).map((status) => ({
      ...status,
      restartCount: status.restartCount + 1,
    }));
    try {
      await core.patchNamespacedPodStatus(
        {
          name: pod.metadata!.name!,
          namespace: pod.metadata!.namespace!,
          body: { status: { containerStatuses } },
        },
        MERGE_PATCH,
      );
    } catch (error) {
      if (statusCode(error) !== 404) logger.warn({ err: String(error) }, "restart count update failed");
    }
  }
}
