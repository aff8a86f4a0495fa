import type { Node, Pod } from "../../core/kube/types.ts";
import { formatCpu, formatMemory, parseQuantity } from "../../core/kube/quantity.ts";
import { age, safe } from "./format.ts";
import { bySeverity, worst, type Diagnosis, type Finding } from "./types.ts";

/**
 * Rule-based node diagnosis: readiness, pressure conditions, cordon, taints,
 * and how much of the node's allocatable CPU and memory its pods request.
 */
export interface NodeUsage {
  pods: number;
  podCapacity: number;
  cpuRequests: number;
  cpuLimits: number;
  cpuAllocatable: number;
  memoryRequests: number;
  memoryLimits: number;
  memoryAllocatable: number;
}

const PRESSURE: Record<string, string> = {
  MemoryPressure: "memory is running low; the kubelet evicts pods and new pods are not scheduled here",
  DiskPressure: "disk space or inodes are running low; images and pods may be evicted",
  PIDPressure: "too many processes are running",
  NetworkUnavailable: "the node's network is not configured",
};

const CONDITION_TAINTS = new Set(
  [
    "not-ready",
    "unreachable",
    "memory-pressure",
    "disk-pressure",
    "pid-pressure",
    "network-unavailable",
    "unschedulable",
  ].map((t) => `node.kubernetes.io/${t}`),
);

function quantity(value: string | number | undefined): number {
  try {
    return parseQuantity(value);
  } catch {
    return 0;
  }
}

function isActive(pod: Pod): boolean {
  return pod.status?.phase !== "Succeeded" && pod.status?.phase !== "Failed";
}

export function nodeUsage(node: Node, pods: readonly Pod[]): NodeUsage {
  const active = pods.filter(isActive);
  const sum = (resource: "cpu" | "memory", kind: "requests" | "limits"): number =>
    active.reduce(
      (total, pod) =>
        total +
        (pod.spec?.containers ?? []).reduce((s, c) => s + quantity(c.resources?.[kind]?.[resource]), 0),
      0,
    );
  return {
    pods: active.length,
    podCapacity: quantity(node.status?.allocatable?.pods),
    cpuRequests: sum("cpu", "requests"),
    cpuLimits: sum("cpu", "limits"),
    cpuAllocatable: quantity(node.status?.allocatable?.cpu),
    memoryRequests: sum("memory", "requests"),
    memoryLimits: sum("memory", "limits"),
    memoryAllocatable: quantity(node.status?.allocatable?.memory),
  };
}

function percent(part: number, whole: number): string {
  return whole > 0 ? `${Math.round((part / whole) * 100)}%` : "n/a";
}

export function describeUsage(usage: NodeUsage): string[] {
  return [
    `CPU requests ${formatCpu(usage.cpuRequests)} of ${formatCpu(usage.cpuAllocatable)} allocatable (${percent(usage.cpuRequests, usage.cpuAllocatable)}), limits ${formatCpu(usage.cpuLimits)}`,
    `Memory requests ${formatMemory(usage.memoryRequests)} of ${formatMemory(usage.memoryAllocatable)} allocatable (${percent(usage.memoryRequests, usage.memoryAllocatable)}), limits ${formatMemory(usage.memoryLimits)}`,
    `Pods ${usage.pods} of ${usage.podCapacity || "?"}`,
  ];
}

export function nodeReadyStatus(node: Node): string {
  const ready = node.status?.conditions?.find((c) => c.type === "Ready");
  const base = ready?.status === "True" ? "Ready" : ready?.status === "False" ? "NotReady" : "Unknown";
  return node.spec?.unschedulable ? `${base},SchedulingDisabled` : base;
}

export function analyseNode(node: Node, pods?: readonly Pod[], now: number = Date.now()): Diagnosis {
  const name = node.metadata?.name ?? "";
  const findings: Finding[] = [];
  const conditions = node.status?.conditions ?? [];
  const ready = conditions.find((c) => c.type === "Ready");

  if (!ready || ready.status !== "True") {
    const heartbeat = ready?.lastHeartbeatTime;
    findings.push({
      rule: "node-not-ready",
      severity: "critical",
      summary: `Node ${safe(name)} is NotReady (${safe(ready?.reason ?? "no Ready condition")})${ready?.lastTransitionTime ? ` since ${age(ready.lastTransitionTime, now)} ago` : ""}${heartbeat ? `; last kubelet heartbeat ${age(heartbeat, now)} ago` : ""}. Pods on it are not started and will be evicted after the toleration period.`,
      evidence: ready?.message ? [{ source: `node condition Ready ${name}`, lines: [ready.message] }] : [],
      facts: { reason: safe(ready?.reason), status: ready?.status ?? "missing" },
      next: ["Check the kubelet and container runtime on the node; draining it (drain_node) needs approval."],
    });
  }
  for (const condition of conditions) {
    const meaning = PRESSURE[condition.type];
    if (!meaning || condition.status !== "True") continue;
    findings.push({
      rule: condition.type.replace(/[A-Z]/g, (c, i: number) => `${i ? "-" : ""}${c.toLowerCase()}`),
      severity:
        condition.type === "MemoryPressure" || condition.type === "DiskPressure" ? "critical" : "warning",
      summary: `Node ${safe(name)} reports ${condition.type}: ${meaning}${condition.lastTransitionTime ? ` (since ${age(condition.lastTransitionTime, now)} ago)` : ""}.`,
      evidence: condition.message
        ? [{ source: `node condition ${condition.type} ${name}`, lines: [condition.message] }]
        : [],
      facts: { condition: condition.type, reason: safe(condition.reason) },
    });
  }
  if (node.spec?.unschedulable) {
    findings.push({
      rule: "cordoned",
      severity: "warning",
      summary: `Node ${safe(name)} is cordoned: no new pods are scheduled on it.`,
      evidence: [],
    });
  }
  // The node lifecycle controller taints a node for each bad condition; the conditions above already say it.
  const taints = (node.spec?.taints ?? []).filter((t) => !CONDITION_TAINTS.has(t.key));
  if (taints.length > 0) {
    findings.push({
      rule: "taints",
      severity: "info",
      summary: `Node ${safe(name)} has ${taints.length} taint(s); pods without matching tolerations are kept off${taints.some((t) => t.effect === "NoExecute") ? " or evicted (NoExecute)" : ""}.`,
      evidence: [
        {
          source: `node taints ${name}`,
          lines: taints.map((t) => `${t.key}${t.value ? `=${t.value}` : ""}:${t.effect}`),
        },
      ],
    });
  }
  if (pods) {
    const usage = nodeUsage(node, pods);
    const cpu = usage.cpuAllocatable > 0 ? usage.cpuRequests / usage.cpuAllocatable : 0;
    const memory = usage.memoryAllocatable > 0 ? usage.memoryRequests / usage.memoryAllocatable : 0;
    if (cpu > 0.9 || memory > 0.9) {
      findings.push({
        rule: "overcommitted",
        severity: cpu > 1 || memory > 1 ? "critical" : "warning",
        summary: `Node ${safe(name)} is nearly full by requests (CPU ${percent(usage.cpuRequests, usage.cpuAllocatable)}, memory ${percent(usage.memoryRequests, usage.memoryAllocatable)} of allocatable); new pods may not fit.`,
        evidence: [],
        facts: { cpuPercent: Math.round(cpu * 100), memoryPercent: Math.round(memory * 100) },
      });
    }
    const failing = pods.filter(
      (p) => isActive(p) && (p.status?.containerStatuses ?? []).some((s) => !s.ready),
    ).length;
    if (failing > 0) {
      findings.push({
        rule: "pods-not-ready",
        severity: "info",
        summary: `${failing} of ${usage.pods} active pods on node ${safe(name)} have containers that are not ready.`,
        evidence: [],
        facts: { notReadyPods: failing },
      });
    }
  }
  if (findings.length === 0 || findings.every((f) => f.severity === "info")) {
    findings.push({
      rule: "healthy",
      severity: "ok",
      summary: `Node ${safe(name)} is Ready with no pressure conditions.`,
      evidence: [],
    });
  }
  findings.sort(bySeverity);
  return {
    subject: `node ${name}`,
    status: nodeReadyStatus(node),
    severity: worst(findings.map((f) => f.severity)),
    findings,
  };
}
