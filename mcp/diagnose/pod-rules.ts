import type { ContainerStatus, KubeEvent, Node, Pod } from "../../core/kube/types.ts";
import { formatMemory, parseQuantity } from "../../core/kube/quantity.ts";
import { age, exitCodeMeaning, safe } from "./format.ts";
import { CRASH_CAUSE_WORDS } from "../../core/memory/fix-record.ts";
import {
  classifyCrashId,
  classifyPullError,
  classifyPullErrorId,
  eventLines,
  evidence,
  explainingLines,
  memoryLimitOf,
} from "./pod-text.ts";
import type { ContainerLog, Evidence, Finding } from "./types.ts";

/**
 * Pod diagnosis as data: small named rules, each `(context) => finding |
 * undefined`, read in order. Pod rules look at the pod as a whole; container
 * rules look at one container, and the first that matches is that
 * container's finding.
 */

export interface PodContext {
  pod: Pod;
  events: readonly KubeEvent[];
  node: Node | undefined;
  now: number;
  /** "namespace/name". */
  ref: string;
  eventSource: string;
  /** The log read for a container: the previous run's when there is one. */
  logOf(container: string): ContainerLog | undefined;
  /** The lines of a container's log that explain its failure, as evidence. */
  logEvidence(container: string, max?: number): Evidence[];
  /** Findings made so far (a rule may stand back for an earlier one). */
  findings: readonly Finding[];
}

export interface ContainerContext {
  status: ContainerStatus;
  name: string;
  /** "Container app" or "Init container setup". */
  label: string;
  init: boolean;
}

export type PodRule = (context: PodContext) => Finding | undefined;
export type ContainerRule = (context: PodContext, container: ContainerContext) => Finding | undefined;

export function podContext(
  input: { pod: Pod; events: readonly KubeEvent[]; logs: readonly ContainerLog[]; node?: Node | undefined },
  now: number,
  findings: readonly Finding[],
): PodContext {
  const { pod } = input;
  const ref = `${pod.metadata?.namespace ?? ""}/${pod.metadata?.name ?? ""}`;
  const logOf = (container: string): ContainerLog | undefined =>
    input.logs.find((l) => l.container === container && l.previous) ??
    input.logs.find((l) => l.container === container);
  return {
    pod,
    events: input.events,
    node: input.node,
    now,
    ref,
    eventSource: `events pod ${ref}`,
    logOf,
    logEvidence(container, max) {
      const log = logOf(container);
      if (!log || log.lines.length === 0) return [];
      const lines = explainingLines(log.lines, max);
      return [
        {
          // Say how much was left out, so the model knows check_logs has more.
          source: `pod-log ${ref}/${container}${log.previous ? " (previous)" : ""}${lines.length < log.lines.length ? `, ${lines.length} of ${log.lines.length} lines` : ""}`,
          lines,
        },
      ];
    },
    findings,
  };
}

/** Every container, init containers first, with what the rules need to name it. */
export function containersOf(pod: Pod): ContainerContext[] {
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  return statuses.map((status) => {
    const init = (pod.spec?.initContainers ?? []).some((c) => c.name === status.name);
    return {
      status,
      name: status.name,
      init,
      label: `${init ? "Init container" : "Container"} ${safe(status.name)}`,
    };
  });
}

// Pod rules, before the containers.

const evicted: PodRule = ({ pod, ref }) => {
  if (pod.status?.reason !== "Evicted") return undefined;
  return {
    rule: "evicted",
    severity: "critical",
    summary: `The pod was evicted by the kubelet${pod.spec?.nodeName ? ` on node ${safe(pod.spec.nodeName)}` : ""} (usually node resource pressure).`,
    evidence: evidence(`pod status ${ref}`, [pod.status.message ?? ""].filter(Boolean)),
    facts: { node: pod.spec?.nodeName },
  };
};

const terminating: PodRule = ({ pod, ref, now }) => {
  if (!pod.metadata?.deletionTimestamp) return undefined;
  const grace = pod.metadata.deletionGracePeriodSeconds ?? 30;
  const since = Date.parse(pod.metadata.deletionTimestamp) - grace * 1000;
  const stuck = now - since > (grace + 60) * 1000;
  return {
    rule: stuck ? "stuck-terminating" : "terminating",
    severity: stuck ? "warning" : "info",
    summary: stuck
      ? `The pod has been terminating for ${age(new Date(since).toISOString(), now)}; finalizers or an unreachable node may hold it.`
      : "The pod is being deleted.",
    evidence: evidence(
      `pod metadata ${ref}`,
      (pod.metadata.finalizers ?? []).map((f) => `finalizer: ${f}`),
    ),
  };
};

const scheduledCondition = (pod: Pod) => pod.status?.conditions?.find((c) => c.type === "PodScheduled");

const unschedulable: PodRule = ({ pod, ref, events, eventSource }) => {
  const scheduled = scheduledCondition(pod);
  if (pod.status?.phase !== "Pending" || scheduled?.status !== "False") return undefined;
  return {
    rule: "unschedulable",
    severity: "critical",
    summary: `The scheduler cannot place the pod on any node (${safe(scheduled.reason ?? "Unschedulable")}).`,
    evidence: [
      ...evidence(`pod condition PodScheduled ${ref}`, [scheduled.message ?? ""].filter(Boolean)),
      ...evidence(
        eventSource,
        eventLines(events, (e) => e.reason === "FailedScheduling", 3),
      ),
    ],
    facts: { reason: safe(scheduled.reason) },
    next: [
      "Compare the pod's requests, nodeSelector, affinity and tolerations with the nodes (show_unhealthy_nodes, troubleshoot_node).",
    ],
  };
};

const notScheduled: PodRule = ({ pod, events, eventSource }) => {
  if (pod.status?.phase !== "Pending" || pod.spec?.nodeName) return undefined;
  // The scheduler said why: that is the unschedulable rule's finding.
  if (scheduledCondition(pod)?.status === "False") return undefined;
  return {
    rule: "not-scheduled",
    severity: "warning",
    summary: "The pod is not scheduled yet and the scheduler has not reported why; is a scheduler running?",
    evidence: evidence(
      eventSource,
      eventLines(events, (e) => e.type === "Warning", 3),
    ),
  };
};

// Container rules: the first that matches is the container's finding.

const oomKilled: ContainerRule = (
  { pod, events, eventSource, now, logEvidence },
  { status: cs, name, label },
) => {
  const last = cs.lastState?.terminated;
  const current = cs.state?.terminated;
  if (last?.reason !== "OOMKilled" && current?.reason !== "OOMKilled") return undefined;
  const term = current?.reason === "OOMKilled" ? current : last!;
  const limit = memoryLimitOf(pod, name);
  const request = pod.spec?.containers?.find((c) => c.name === name)?.resources?.requests?.memory;
  let limitText = "no memory limit is set, so the node ran out of memory";
  if (limit !== undefined) {
    let pretty = safe(limit);
    try {
      pretty = formatMemory(parseQuantity(limit));
    } catch {
      // keep the raw (sanitised) value
    }
    limitText = `its memory limit is ${pretty}`;
  }
  return {
    rule: "oom-killed",
    severity: "critical",
    summary: `${label} was OOMKilled (exit code ${term.exitCode ?? 137}): it used more memory than allowed; ${limitText}. Restarted ${cs.restartCount ?? 0} times${term.finishedAt ? `, last ${age(term.finishedAt, now)} ago` : ""}.`,
    evidence: [
      ...evidence(
        eventSource,
        eventLines(events, (e) => /OOM/i.test(e.reason ?? ""), 2),
      ),
      ...logEvidence(name, 2),
    ],
    facts: {
      container: name,
      exitCode: term.exitCode ?? 137,
      memoryLimit: limit === undefined ? undefined : safe(limit),
      memoryRequest: request === undefined ? undefined : safe(String(request)),
      restarts: cs.restartCount ?? 0,
    },
    next: [
      "Raise the memory limit (set_deployment_resources, needs approval) or find the leak; check_logs with previous=true shows the last run.",
    ],
  };
};

const crashLoop: ContainerRule = (
  { ref, events, eventSource, now, logOf, logEvidence },
  { status: cs, name, label },
) => {
  const last = cs.lastState?.terminated;
  const current = cs.state?.terminated;
  if (cs.state?.waiting?.reason !== "CrashLoopBackOff" && !(last && (cs.restartCount ?? 0) >= 3 && !cs.ready))
    return undefined;
  const term = last ?? current;
  const code = term?.exitCode;
  const meaning = exitCodeMeaning(code, term?.signal);
  const log = logOf(name);
  // The class of failure, as an id (a fact) and in Deputy's words: the log itself stays evidence.
  const causeId = log ? classifyCrashId(explainingLines(log.lines)) : undefined;
  const cause = causeId === undefined ? undefined : CRASH_CAUSE_WORDS[causeId];
  const logSays = cause
    ? ` Its log reports ${cause}; the lines below show it.`
    : " The log lines below explain the failure.";
  return {
    rule: "crash-loop",
    severity: "critical",
    summary: `${label} is in CrashLoopBackOff: it has restarted ${cs.restartCount ?? 0} times; the last run ended with ${safe(term?.reason ?? "an unknown reason")}${code === undefined ? "" : `, exit code ${code} (${meaning})`}${term?.finishedAt ? `, ${age(term.finishedAt, now)} ago` : ""}.${log?.lines.length ? logSays : log?.error ? ` No log could be read (${safe(log.error, 80)}).` : ""}`,
    evidence: [
      ...logEvidence(name),
      ...evidence(`container state ${ref}/${name}`, [term?.message ?? ""].filter(Boolean)),
      // BackOff events only repeat the status above; failing probes explain restarts.
      ...evidence(
        eventSource,
        eventLines(events, (e) => e.reason === "Unhealthy", 2),
      ),
    ],
    facts: {
      container: name,
      exitCode: code,
      reason: safe(term?.reason),
      restarts: cs.restartCount ?? 0,
      cause: causeId,
    },
    next: [
      "Read the full previous log (check_logs previous=true) and fix the cause; a restart will not help until then.",
    ],
  };
};

const imagePull: ContainerRule = ({ pod, ref, events, eventSource }, { status: cs, name, label }) => {
  const waiting = cs.state?.waiting;
  if (!waiting || !/ImagePull|ErrImage|InvalidImageName/.test(waiting.reason ?? "")) return undefined;
  const image = pod.spec?.containers?.find((c) => c.name === name)?.image ?? cs.image;
  const message = waiting.message ?? "";
  // The kubelet's detailed pull error ("Failed to pull image …: not found") says why; its
  // short follow-up ("Error: ErrImagePull") only repeats the reason, whichever came last.
  const detailed = eventLines(
    events,
    (e) => e.reason === "Failed" && /failed to pull/i.test(e.message ?? ""),
    1,
  );
  const pullEvents =
    detailed.length > 0
      ? detailed
      : eventLines(events, (e) => e.reason === "Failed" && /pull|image/i.test(e.message ?? ""), 1);
  const pullText = `${message} ${pullEvents.join(" ")}`;
  return {
    rule: "image-pull",
    severity: "critical",
    summary: `${label} cannot start: image ${safe(image, 200)} cannot be pulled (${safe(waiting.reason)}); probable cause: ${classifyPullError(pullText)}.`,
    // The pull error once: the kubelet's event when there is one, else the container state.
    evidence:
      pullEvents.length > 0
        ? evidence(eventSource, pullEvents)
        : evidence(`container state ${ref}/${name}`, [message].filter(Boolean)),
    facts: {
      container: name,
      image: safe(image, 200),
      reason: safe(waiting.reason),
      cause: classifyPullErrorId(pullText),
    },
    next: [
      "Check that the tag exists; roll back (rollback_deployment) or set a valid image (set_deployment_image), both need approval.",
    ],
  };
};

const containerConfig: ContainerRule = ({ ref }, { status: cs, name, label }) => {
  const waiting = cs.state?.waiting;
  if (
    !waiting ||
    !/CreateContainerConfigError|CreateContainerError|RunContainerError|ContainerCannotRun/.test(
      waiting.reason ?? "",
    )
  )
    return undefined;
  return {
    rule: "container-config",
    severity: "critical",
    summary: `${label} cannot be created (${safe(waiting.reason)}): usually a missing ConfigMap, Secret or key referenced by the pod, or a bad command.`,
    evidence: evidence(`container state ${ref}/${name}`, [waiting.message ?? ""].filter(Boolean)),
    facts: { container: name, reason: safe(waiting.reason) },
  };
};

const exited: ContainerRule = ({ ref, logEvidence }, { status: cs, name, label, init }) => {
  const current = cs.state?.terminated;
  if (!current || current.exitCode === 0 || init) return undefined;
  return {
    rule: "exited",
    severity: "warning",
    summary: `${label} exited with ${safe(current.reason ?? "an error")}, exit code ${current.exitCode} (${exitCodeMeaning(current.exitCode, current.signal)}).`,
    evidence: [
      ...logEvidence(name),
      ...evidence(`container state ${ref}/${name}`, [current.message ?? ""].filter(Boolean)),
    ],
    facts: { container: name, exitCode: current.exitCode, reason: safe(current.reason) },
  };
};

const runningNotReady: ContainerRule = ({ events, eventSource }, { status: cs, name, label }) => {
  if (!cs.state?.running || cs.ready) return undefined;
  const probes = eventLines(events, (e) => e.reason === "Unhealthy", 4);
  return {
    rule: probes.length > 0 ? "probe-failing" : "not-ready",
    severity: "warning",
    summary:
      probes.length > 0
        ? `${label} is running but failing its probes, so it receives no traffic${probes.some((p) => /liveness/i.test(p)) ? " and the kubelet restarts it" : ""}.`
        : `${label} is running but not ready yet.`,
    evidence: evidence(eventSource, probes),
    facts: { container: name },
  };
};

const restarted: ContainerRule = ({ now, logEvidence }, { status: cs, name, label }) => {
  const last = cs.lastState?.terminated;
  if ((cs.restartCount ?? 0) === 0 || !last) return undefined;
  return {
    rule: "restarted",
    severity: "info",
    summary: `${label} is running but restarted ${cs.restartCount} times; the last run ended with ${safe(last.reason ?? "?")}, exit code ${last.exitCode} (${exitCodeMeaning(last.exitCode, last.signal)})${last.finishedAt ? `, ${age(last.finishedAt, now)} ago` : ""}.`,
    evidence: logEvidence(name),
    facts: { container: name, exitCode: last.exitCode, restarts: cs.restartCount },
  };
};

// Pod rules, after the containers.

const probeFailures: PodRule = ({ events, eventSource, findings }) => {
  const probeEvents = eventLines(events, (e) => e.reason === "Unhealthy", 4);
  if (probeEvents.length === 0 || findings.some((f) => f.rule === "probe-failing")) return undefined;
  return {
    rule: "probe-failing",
    severity: "warning",
    summary: "Recent probe failures were reported for this pod.",
    evidence: evidence(eventSource, probeEvents),
  };
};

const podSetup: PodRule = ({ events, eventSource }) => {
  const mountEvents = eventLines(
    events,
    (e) => /FailedMount|FailedAttachVolume|FailedCreatePodSandBox/.test(e.reason ?? ""),
    3,
  );
  if (mountEvents.length === 0) return undefined;
  return {
    rule: "pod-setup",
    severity: "critical",
    summary: "The kubelet cannot set the pod up (volume mount or sandbox failures).",
    evidence: evidence(eventSource, mountEvents),
  };
};

const nodeNotReady: PodRule = ({ node }) => {
  const ready = node?.status?.conditions?.find((c) => c.type === "Ready");
  if (!node || !ready || ready.status === "True") return undefined;
  return {
    rule: "node-not-ready",
    severity: "critical",
    summary: `The pod's node ${safe(node.metadata?.name)} is NotReady (${safe(ready.reason)}), so its status may be stale and it may be evicted.`,
    evidence: evidence(
      `node condition Ready ${node.metadata?.name ?? ""}`,
      [ready.message ?? ""].filter(Boolean),
    ),
    facts: { node: node.metadata?.name },
    next: ["Run troubleshoot_node on it."],
  };
};

/** When no rule found anything: done, healthy, or unexplained. */
export const nothingFound = ({ pod, events, eventSource }: PodContext, status: string): Finding => {
  const phase = pod.status?.phase;
  const allReady = (pod.status?.containerStatuses ?? []).every((s) => s.ready);
  if (phase === "Succeeded")
    return { rule: "completed", severity: "ok", summary: "The pod ran to completion.", evidence: [] };
  if (phase === "Running" && allReady)
    return {
      rule: "healthy",
      severity: "ok",
      summary: "No problem found: the pod is Running and all containers are ready.",
      evidence: [],
    };
  return {
    rule: "unknown",
    severity: "warning",
    summary: `No rule explains this pod's state (${status}); look at its events and logs.`,
    evidence: evidence(
      eventSource,
      eventLines(events, (e) => e.type === "Warning", 5),
    ),
  };
};

/** The rules, in the order they are read. */
export const POD_RULES_BEFORE_CONTAINERS: readonly PodRule[] = [
  evicted,
  terminating,
  unschedulable,
  notScheduled,
];
export const CONTAINER_RULES: readonly ContainerRule[] = [
  oomKilled,
  crashLoop,
  imagePull,
  containerConfig,
  exited,
  runningNotReady,
  restarted,
];
export const POD_RULES_AFTER_CONTAINERS: readonly PodRule[] = [probeFailures, podSetup, nodeNotReady];
