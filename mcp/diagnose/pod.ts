import type { ContainerStatus, KubeEvent, Node, Pod } from "../../core/kube/types.ts";
import { formatMemory, parseQuantity } from "../../core/kube/quantity.ts";
import { age, exitCodeMeaning, safe } from "./format.ts";
import { podOwner, podStatus } from "./pod-status.ts";
import { bySeverity, worst, type Diagnosis, type Evidence, type Finding } from "./types.ts";

/**
 * Rule-based pod diagnosis: the probable cause with its evidence, without a
 * model. Each rule reads only the pod, its events, the logs of containers that
 * failed and the node it runs on; the result is useful to a person on its own.
 */
export interface ContainerLog {
  container: string;
  previous: boolean;
  lines: string[];
  /** Why no log could be read (e.g. the container never started). */
  error?: string | undefined;
}

export interface PodEvidence {
  pod: Pod;
  events: KubeEvent[];
  logs: ContainerLog[];
  node?: Node | undefined;
  now?: number;
}

/** Lines that usually explain a crash: errors, exceptions, their causes. */
const EXPLAINS =
  /(exception|error|fatal|panic|traceback|caused by|failed|failure|refused|denied|unauthori[sz]ed|forbidden|not set|not found|no such|cannot|can't|unable|invalid|missing|timed? ?out|killed|oom|segmentation|abort)/i;
const STACK_FRAME = /^\s+(at |\.\.\. \d+ (more|common frames))|^\s+File "|^\s*goroutine \d+|^\s+\/.*\.go:\d+/;

/** Pick the log lines that explain a failure: first error, causes, and the last lines. */
export function explainingLines(lines: readonly string[], max = 14): string[] {
  if (lines.length <= max) return [...lines];
  const picked = new Set<number>();
  const first = lines.findIndex((line) => EXPLAINS.test(line) && !STACK_FRAME.test(line));
  if (first >= 0) {
    picked.add(first);
    if (lines[first + 1] && STACK_FRAME.test(lines[first + 1]!)) picked.add(first + 1);
  }
  lines.forEach((line, i) => {
    if (/^(caused by|\s*Caused by)/i.test(line) || /^(panic|fatal|FATAL|ERROR|Error:|Exception)/.test(line)) {
      picked.add(i);
      if (lines[i + 1] && STACK_FRAME.test(lines[i + 1]!)) picked.add(i + 1);
    }
  });
  const chosen = [...picked].sort((a, b) => a - b);
  // Keep the last non-frame lines too: how the process ended.
  const tailBudget = Math.max(2, max - Math.min(chosen.length, max - 2));
  const tail: number[] = [];
  for (let i = lines.length - 1; i >= 0 && tail.length < tailBudget; i--) {
    if (!STACK_FRAME.test(lines[i]!) || tail.length === 0) tail.unshift(i);
  }
  const indexes = [...new Set([...chosen.slice(-(max - tail.length)), ...tail])].sort((a, b) => a - b);
  const out: string[] = [];
  if ((indexes[0] ?? 0) > 0) out.push(`[… ${indexes[0]} earlier lines]`);
  let previous = -1;
  for (const i of indexes) {
    if (previous >= 0 && i > previous + 1) out.push(`[… ${i - previous - 1} lines]`);
    out.push(lines[i]!);
    previous = i;
  }
  return out;
}

function eventLines(events: readonly KubeEvent[], filter: (e: KubeEvent) => boolean, max = 6): string[] {
  return events
    .filter(filter)
    .slice(-max)
    .map((e) => {
      const count = (e.count ?? 1) > 1 ? ` (x${e.count})` : "";
      return `${e.type ?? ""} ${e.reason ?? ""}${count}: ${e.message ?? ""}`.trim();
    });
}

function evidence(source: string, lines: string[]): Evidence[] {
  return lines.length > 0 ? [{ source, lines }] : [];
}

function memoryLimitOf(pod: Pod, container: string): string | undefined {
  const spec = pod.spec?.containers?.find((c) => c.name === container);
  const limit = spec?.resources?.limits?.memory;
  return limit === undefined ? undefined : String(limit);
}

function classifyPullError(message: string): string {
  if (/not found|manifest unknown|does not exist|NotFound/i.test(message)) {
    return "the image or tag does not exist in the registry";
  }
  if (/unauthori[sz]ed|denied|authentication required|forbidden|401|403/i.test(message)) {
    return "the registry refused the credentials (check imagePullSecrets)";
  }
  if (/timeout|no such host|connection refused|i\/o timeout|dial tcp|TLS/i.test(message)) {
    return "the registry could not be reached from the node";
  }
  if (/InvalidImageName|invalid reference format/i.test(message)) return "the image reference is malformed";
  return "the image could not be pulled";
}

export function analysePod(input: PodEvidence): Diagnosis {
  const { pod, events } = input;
  const now = input.now ?? Date.now();
  const namespace = pod.metadata?.namespace ?? "";
  const name = pod.metadata?.name ?? "";
  const ref = `${namespace}/${name}`;
  const findings: Finding[] = [];
  const eventSource = `events pod ${ref}`;
  const status = podStatus(pod);
  const logOf = (container: string): ContainerLog | undefined =>
    input.logs.find((l) => l.container === container && l.previous) ??
    input.logs.find((l) => l.container === container);
  const logEvidence = (container: string): Evidence[] => {
    const log = logOf(container);
    if (!log || log.lines.length === 0) return [];
    return [
      {
        source: `pod-log ${ref}/${container}${log.previous ? " (previous)" : ""}`,
        lines: explainingLines(log.lines),
      },
    ];
  };

  if (pod.status?.reason === "Evicted") {
    findings.push({
      rule: "evicted",
      severity: "critical",
      summary: `The pod was evicted by the kubelet${pod.spec?.nodeName ? ` on node ${safe(pod.spec.nodeName)}` : ""} (usually node resource pressure).`,
      evidence: evidence(`pod status ${ref}`, [pod.status.message ?? ""].filter(Boolean)),
      facts: { node: pod.spec?.nodeName },
    });
  }

  if (pod.metadata?.deletionTimestamp) {
    const grace = pod.metadata.deletionGracePeriodSeconds ?? 30;
    const since = Date.parse(pod.metadata.deletionTimestamp) - grace * 1000;
    const stuck = now - since > (grace + 60) * 1000;
    findings.push({
      rule: stuck ? "stuck-terminating" : "terminating",
      severity: stuck ? "warning" : "info",
      summary: stuck
        ? `The pod has been terminating for ${age(new Date(since).toISOString(), now)}; finalizers or an unreachable node may hold it.`
        : "The pod is being deleted.",
      evidence: evidence(
        `pod metadata ${ref}`,
        (pod.metadata.finalizers ?? []).map((f) => `finalizer: ${f}`),
      ),
    });
  }

  const scheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
  if (pod.status?.phase === "Pending" && scheduled?.status === "False") {
    findings.push({
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
    });
  } else if (pod.status?.phase === "Pending" && !pod.spec?.nodeName) {
    findings.push({
      rule: "not-scheduled",
      severity: "warning",
      summary: "The pod is not scheduled yet and the scheduler has not reported why; is a scheduler running?",
      evidence: evidence(
        eventSource,
        eventLines(events, (e) => e.type === "Warning", 3),
      ),
    });
  }

  const specOf = (statusName: string): { init: boolean } => ({
    init: (pod.spec?.initContainers ?? []).some((c) => c.name === statusName),
  });
  const allStatuses: ContainerStatus[] = [
    ...(pod.status?.initContainerStatuses ?? []),
    ...(pod.status?.containerStatuses ?? []),
  ];

  for (const cs of allStatuses) {
    const container = cs.name;
    const label = `${specOf(container).init ? "Init container" : "Container"} ${safe(container)}`;
    const waiting = cs.state?.waiting;
    const last = cs.lastState?.terminated;
    const current = cs.state?.terminated;
    const oom = last?.reason === "OOMKilled" || current?.reason === "OOMKilled";

    if (oom) {
      const term = current?.reason === "OOMKilled" ? current : last!;
      const limit = memoryLimitOf(pod, container);
      const request = pod.spec?.containers?.find((c) => c.name === container)?.resources?.requests?.memory;
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
      findings.push({
        rule: "oom-killed",
        severity: "critical",
        summary: `${label} was OOMKilled (exit code ${term.exitCode ?? 137}): it used more memory than allowed; ${limitText}. Restarted ${cs.restartCount ?? 0} times${term.finishedAt ? `, last ${age(term.finishedAt, now)} ago` : ""}.`,
        evidence: [
          ...evidence(
            eventSource,
            eventLines(events, (e) => /OOM|BackOff/i.test(e.reason ?? ""), 3),
          ),
          ...logEvidence(container),
        ],
        facts: {
          container,
          exitCode: term.exitCode ?? 137,
          memoryLimit: limit === undefined ? undefined : safe(limit),
          memoryRequest: request === undefined ? undefined : safe(String(request)),
          restarts: cs.restartCount ?? 0,
        },
        next: [
          "Raise the memory limit (set_deployment_resources, needs approval) or find the leak; check_logs with previous=true shows the last run.",
        ],
      });
      continue;
    }

    if (waiting?.reason === "CrashLoopBackOff" || (last && (cs.restartCount ?? 0) >= 3 && !cs.ready)) {
      const term = last ?? current;
      const code = term?.exitCode;
      const meaning = exitCodeMeaning(code, term?.signal);
      const log = logOf(container);
      findings.push({
        rule: "crash-loop",
        severity: "critical",
        summary: `${label} is in CrashLoopBackOff: it has restarted ${cs.restartCount ?? 0} times; the last run ended with ${safe(term?.reason ?? "an unknown reason")}${code === undefined ? "" : `, exit code ${code} (${meaning})`}${term?.finishedAt ? `, ${age(term.finishedAt, now)} ago` : ""}.${log?.lines.length ? " The log lines below explain the failure." : log?.error ? ` No log could be read (${safe(log.error, 80)}).` : ""}`,
        evidence: [
          ...logEvidence(container),
          ...evidence(`container state ${ref}/${container}`, [term?.message ?? ""].filter(Boolean)),
          ...evidence(
            eventSource,
            eventLines(events, (e) => e.reason === "BackOff" || e.reason === "Unhealthy", 2),
          ),
        ],
        facts: { container, exitCode: code, reason: safe(term?.reason), restarts: cs.restartCount ?? 0 },
        next: [
          "Read the full previous log (check_logs previous=true) and fix the cause; a restart will not help until then.",
        ],
      });
      continue;
    }

    if (waiting && /ImagePull|ErrImage|InvalidImageName/.test(waiting.reason ?? "")) {
      const image = pod.spec?.containers?.find((c) => c.name === container)?.image ?? cs.image;
      const message = waiting.message ?? "";
      const pullEvents = eventLines(events, (e) => e.reason === "Failed" || /pull/i.test(e.message ?? ""), 3);
      findings.push({
        rule: "image-pull",
        severity: "critical",
        summary: `${label} cannot start: image ${safe(image, 200)} cannot be pulled (${safe(waiting.reason)}); probable cause: ${classifyPullError(`${message} ${pullEvents.join(" ")}`)}.`,
        evidence: [
          ...evidence(`container state ${ref}/${container}`, [message].filter(Boolean)),
          ...evidence(eventSource, pullEvents),
        ],
        facts: { container, image: safe(image, 200), reason: safe(waiting.reason) },
        next: [
          "Check that the tag exists; roll back (rollback_deployment) or set a valid image (set_deployment_image), both need approval.",
        ],
      });
      continue;
    }

    if (
      waiting &&
      /CreateContainerConfigError|CreateContainerError|RunContainerError|ContainerCannotRun/.test(
        waiting.reason ?? "",
      )
    ) {
      findings.push({
        rule: "container-config",
        severity: "critical",
        summary: `${label} cannot be created (${safe(waiting.reason)}): usually a missing ConfigMap, Secret or key referenced by the pod, or a bad command.`,
        evidence: evidence(`container state ${ref}/${container}`, [waiting.message ?? ""].filter(Boolean)),
        facts: { container, reason: safe(waiting.reason) },
      });
      continue;
    }

    if (current && current.exitCode !== 0 && !specOf(container).init) {
      findings.push({
        rule: "exited",
        severity: "warning",
        summary: `${label} exited with ${safe(current.reason ?? "an error")}, exit code ${current.exitCode} (${exitCodeMeaning(current.exitCode, current.signal)}).`,
        evidence: [
          ...logEvidence(container),
          ...evidence(`container state ${ref}/${container}`, [current.message ?? ""].filter(Boolean)),
        ],
        facts: { container, exitCode: current.exitCode, reason: safe(current.reason) },
      });
      continue;
    }

    if (cs.state?.running && !cs.ready) {
      const probes = eventLines(events, (e) => e.reason === "Unhealthy", 4);
      findings.push({
        rule: probes.length > 0 ? "probe-failing" : "not-ready",
        severity: "warning",
        summary:
          probes.length > 0
            ? `${label} is running but failing its probes, so it receives no traffic${probes.some((p) => /liveness/i.test(p)) ? " and the kubelet restarts it" : ""}.`
            : `${label} is running but not ready yet.`,
        evidence: evidence(eventSource, probes),
        facts: { container },
      });
      continue;
    }

    if ((cs.restartCount ?? 0) > 0 && last) {
      findings.push({
        rule: "restarted",
        severity: "info",
        summary: `${label} is running but restarted ${cs.restartCount} times; the last run ended with ${safe(last.reason ?? "?")}, exit code ${last.exitCode} (${exitCodeMeaning(last.exitCode, last.signal)})${last.finishedAt ? `, ${age(last.finishedAt, now)} ago` : ""}.`,
        evidence: logEvidence(container),
        facts: { container, exitCode: last.exitCode, restarts: cs.restartCount },
      });
    }
  }

  const probeEvents = eventLines(events, (e) => e.reason === "Unhealthy", 4);
  if (probeEvents.length > 0 && !findings.some((f) => f.rule === "probe-failing")) {
    findings.push({
      rule: "probe-failing",
      severity: "warning",
      summary: "Recent probe failures were reported for this pod.",
      evidence: evidence(eventSource, probeEvents),
    });
  }

  const mountEvents = eventLines(
    events,
    (e) => /FailedMount|FailedAttachVolume|FailedCreatePodSandBox/.test(e.reason ?? ""),
    3,
  );
  if (mountEvents.length > 0) {
    findings.push({
      rule: "pod-setup",
      severity: "critical",
      summary: "The kubelet cannot set the pod up (volume mount or sandbox failures).",
      evidence: evidence(eventSource, mountEvents),
    });
  }

  if (input.node) {
    const ready = input.node.status?.conditions?.find((c) => c.type === "Ready");
    if (ready && ready.status !== "True") {
      findings.push({
        rule: "node-not-ready",
        severity: "critical",
        summary: `The pod's node ${safe(input.node.metadata?.name)} is NotReady (${safe(ready.reason)}), so its status may be stale and it may be evicted.`,
        evidence: evidence(
          `node condition Ready ${input.node.metadata?.name ?? ""}`,
          [ready.message ?? ""].filter(Boolean),
        ),
        facts: { node: input.node.metadata?.name },
        next: ["Run troubleshoot_node on it."],
      });
    }
  }

  const phase = pod.status?.phase;
  if (findings.length === 0) {
    const allReady = (pod.status?.containerStatuses ?? []).every((s) => s.ready);
    findings.push(
      phase === "Succeeded"
        ? { rule: "completed", severity: "ok", summary: "The pod ran to completion.", evidence: [] }
        : phase === "Running" && allReady
          ? {
              rule: "healthy",
              severity: "ok",
              summary: "No problem found: the pod is Running and all containers are ready.",
              evidence: [],
            }
          : {
              rule: "unknown",
              severity: "warning",
              summary: `No rule explains this pod's state (${status}); look at its events and logs.`,
              evidence: evidence(
                eventSource,
                eventLines(events, (e) => e.type === "Warning", 5),
              ),
            },
    );
  }
  findings.sort(bySeverity);
  const owner = podOwner(pod);
  return {
    subject: `pod ${ref}${owner ? ` (${owner.kind} ${namespace}/${owner.name})` : ""}`,
    status,
    severity: worst(findings.map((f) => f.severity)),
    findings,
  };
}
