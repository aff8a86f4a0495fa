import type { TriageObjectRef, TriageReason } from "../core/observability/alerts.ts";
import type { Node, Pod } from "../core/kube/types.ts";
import { podOwner } from "../mcp/diagnose/pod-status.ts";

/**
 * Which objects deserve a triage message, decided from the object alone (no
 * API calls), so the informer callback stays cheap. One problem per object:
 * the most telling one (an OOM kill explains the crash loop it causes).
 */

export interface Problem {
  reason: TriageReason;
  /** The status people know it by: CrashLoopBackOff, OOMKilled, ImagePullBackOff, Unschedulable, NotReady. */
  status: string;
  container?: string;
}

const IMAGE_PULL = new Set(["ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"]);
const PRIORITY: Record<TriageReason, number> = {
  "oom-killed": 4,
  "crash-loop": 3,
  "image-pull": 2,
  unschedulable: 1,
  "node-not-ready": 0,
};

export function podProblem(pod: Pod): Problem | undefined {
  if (pod.metadata?.deletionTimestamp) return undefined; // going away; not worth a message
  const found: Problem[] = [];
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  for (const cs of statuses) {
    const waiting = cs.state?.waiting?.reason;
    if (cs.state?.terminated?.reason === "OOMKilled" || cs.lastState?.terminated?.reason === "OOMKilled") {
      // An old OOM kill of a container that has since run fine is history, not a problem.
      if (!cs.ready || waiting === "CrashLoopBackOff" || cs.state?.terminated) {
        found.push({ reason: "oom-killed", status: "OOMKilled", container: cs.name });
        continue;
      }
    }
    if (waiting === "CrashLoopBackOff")
      found.push({ reason: "crash-loop", status: waiting, container: cs.name });
    else if (waiting && IMAGE_PULL.has(waiting))
      found.push({ reason: "image-pull", status: waiting, container: cs.name });
  }
  const scheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
  if (
    pod.status?.phase === "Pending" &&
    scheduled?.status === "False" &&
    scheduled.reason === "Unschedulable"
  ) {
    found.push({ reason: "unschedulable", status: "Unschedulable" });
  }
  return found.sort((a, b) => PRIORITY[b.reason] - PRIORITY[a.reason])[0];
}

export function nodeProblem(node: Node): Problem | undefined {
  const ready = node.status?.conditions?.find((c) => c.type === "Ready");
  if (!ready || ready.status === "True") return undefined; // no condition yet: the node is still registering
  return { reason: "node-not-ready", status: ready.status === "Unknown" ? "NotReady (Unknown)" : "NotReady" };
}

/** What the message is about: the pod's workload when it has one, so replicas share one message. */
export function podSubject(pod: Pod): TriageObjectRef {
  const namespace = pod.metadata?.namespace ?? "";
  const name = pod.metadata?.name ?? "";
  const owner = podOwner(pod);
  if (!owner || owner.kind === "Node") return { kind: "Pod", namespace, name, pod: name };
  return { kind: owner.kind, namespace, name: owner.name, pod: name };
}

export function nodeSubject(node: Node): TriageObjectRef {
  return { kind: "Node", name: node.metadata?.name ?? "" };
}

export function subjectKey(subject: TriageObjectRef, reason: TriageReason): string {
  return `${reason}:${subject.kind}:${subject.namespace ?? ""}:${subject.name}`;
}
