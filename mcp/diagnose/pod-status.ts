import type { ContainerStatus, Pod } from "../../core/kube/types.ts";
import { age, safe } from "./format.ts";

/**
 * The one-word status kubectl shows for a pod (CrashLoopBackOff, OOMKilled,
 * Init:0/1, Terminating…), following kubectl's printPod rules, plus READY and
 * RESTARTS columns.
 */
export interface PodSummary {
  name: string;
  namespace: string;
  status: string;
  ready: string;
  restarts: number;
  lastRestart: string | undefined;
  node: string;
  age: string;
  ip: string;
  /** True when the pod looks unhealthy (not Running/Succeeded with all containers ready). */
  unhealthy: boolean;
}

function containerReason(status: ContainerStatus): string | undefined {
  if (status.state?.waiting?.reason) return status.state.waiting.reason;
  const terminated = status.state?.terminated;
  if (terminated) {
    if (terminated.reason) return terminated.reason;
    return terminated.signal ? `Signal:${terminated.signal}` : `ExitCode:${terminated.exitCode}`;
  }
  return undefined;
}

export function podStatus(pod: Pod): string {
  const phase = pod.status?.phase ?? "Unknown";
  let reason = pod.status?.reason ?? phase;
  const initStatuses = pod.status?.initContainerStatuses ?? [];
  const initCount = pod.spec?.initContainers?.length ?? 0;
  let initializing = false;
  initStatuses.forEach((status, index) => {
    if (initializing) return;
    const terminated = status.state?.terminated;
    if (terminated && terminated.exitCode === 0) return;
    const restartable = pod.spec?.initContainers?.[index]?.restartPolicy === "Always";
    if (restartable && status.started) return;
    initializing = true;
    if (terminated) {
      reason = terminated.reason ? `Init:${terminated.reason}` : `Init:ExitCode:${terminated.exitCode}`;
    } else if (status.state?.waiting?.reason && status.state.waiting.reason !== "PodInitializing") {
      reason = `Init:${status.state.waiting.reason}`;
    } else {
      reason = `Init:${index}/${initCount}`;
    }
  });
  if (!initializing) {
    let hasRunning = false;
    for (const status of [...(pod.status?.containerStatuses ?? [])].reverse()) {
      const r = containerReason(status);
      if (status.state?.waiting?.reason) reason = status.state.waiting.reason;
      else if (status.state?.terminated) reason = r ?? reason;
      else if (status.ready && status.state?.running) hasRunning = true;
    }
    if (reason === "Completed" && hasRunning) {
      const ready = pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
      reason = ready ? "Running" : "NotReady";
    }
  }
  if (pod.metadata?.deletionTimestamp) reason = pod.status?.reason === "NodeLost" ? "Unknown" : "Terminating";
  if (phase === "Pending" && reason === "Pending") {
    const scheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
    if (scheduled?.status === "False" && scheduled.reason) reason = scheduled.reason;
  }
  // A container that was OOMKilled and is now backing off shows the cause, as people expect.
  const oom = (pod.status?.containerStatuses ?? []).find(
    (s) => s.lastState?.terminated?.reason === "OOMKilled" && s.state?.waiting?.reason === "CrashLoopBackOff",
  );
  if (oom && reason === "CrashLoopBackOff") return "CrashLoopBackOff (OOMKilled)";
  return safe(reason, 60);
}

export function summarisePod(pod: Pod, now: number = Date.now()): PodSummary {
  const statuses = pod.status?.containerStatuses ?? [];
  const total = pod.spec?.containers?.length ?? statuses.length;
  const ready = statuses.filter((s) => s.ready).length;
  const restarts = statuses.reduce((sum, s) => sum + (s.restartCount ?? 0), 0);
  const lastFinish = statuses
    .map((s) => s.lastState?.terminated?.finishedAt)
    .filter((t): t is string => Boolean(t))
    .sort()
    .at(-1);
  const status = podStatus(pod);
  const phase = pod.status?.phase;
  const unhealthy =
    !(phase === "Succeeded" || (phase === "Running" && ready === total && status === "Running")) ||
    Boolean(pod.metadata?.deletionTimestamp);
  return {
    name: pod.metadata?.name ?? "",
    namespace: pod.metadata?.namespace ?? "",
    status,
    ready: `${ready}/${total}`,
    restarts,
    lastRestart: lastFinish ? age(lastFinish, now) : undefined,
    node: pod.spec?.nodeName ?? "<none>",
    age: age(pod.metadata?.creationTimestamp, now),
    ip: pod.status?.podIP ?? "<none>",
    unhealthy,
  };
}

/** The controller that owns a pod, resolved through its ReplicaSet name ("Deployment shop/checkout"). */
export function podOwner(pod: Pod): { kind: string; name: string } | undefined {
  const owner =
    pod.metadata?.ownerReferences?.find((o) => o.controller) ?? pod.metadata?.ownerReferences?.[0];
  if (!owner) return undefined;
  if (owner.kind === "ReplicaSet") {
    const hash = pod.metadata?.labels?.["pod-template-hash"];
    if (hash && owner.name.endsWith(`-${hash}`)) {
      return { kind: "Deployment", name: owner.name.slice(0, -(hash.length + 1)) };
    }
  }
  return { kind: owner.kind, name: owner.name };
}
