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
/** The specific failures that usually are the root cause, not its consequence. */
const ROOT_CAUSE =
  /(not set|missing|required|no such|not found|refused|denied|unauthori[sz]ed|forbidden|out of memory|oom|permission|cannot|can't|unable to|invalid|timed? ?out|segmentation)/i;
const STACK_FRAME = /^\s+(at |\.\.\. \d+ (more|common frames))|^\s+File "|^\s*goroutine \d+|^\s+\/.*\.go:\d+/;
const CAUSED_BY = /^\s*caused by\b/i;
const HEADLINE = /^(panic|fatal|FATAL|ERROR|Error:|Exception|Traceback)|^[\w.$]+(Exception|Error)\b/;
/** A leading RFC 3339 timestamp, as the kubelet adds with timestamps=true and many loggers write. */
const LEADING_TIMESTAMP = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?\s+/;
const MAX_LINE = 240;

/** Bounded text keeps its head and its tail: errors often name the cause last ("…: not found"). */
function bounded(text: string, max = MAX_LINE): string {
  if (text.length <= max) return text;
  const tail = Math.floor(max / 3);
  return `${text.slice(0, max - tail - 1)}…${text.slice(-tail)}`;
}

/** One log line as evidence: no timestamp or runs of padding, and bounded. */
function compactLine(line: string): string {
  return bounded(
    line
      .replace(LEADING_TIMESTAMP, "")
      .replace(/\s{2,}/g, " ")
      .trim(),
  );
}

const ERROR_LEVEL = /\b(ERROR|ERR|FATAL|CRITICAL|CRIT|PANIC|SEVERE)\b/;
const WARN_LEVEL = /\b(WARN|WARNING)\b/;
const QUIET_LEVEL = /\b(INFO|DEBUG|TRACE|NOTICE)\b/;

/**
 * How strongly a line explains a crash. A root-cause phrase counts only on a
 * line that reports a failure (error level, exception, Caused by, or no level
 * at all): a warning about one bad request is not why the process died.
 */
function score(line: string, isLastCause: boolean): number {
  if (STACK_FRAME.test(line) || line.trim() === "") return 0;
  const body = line.replace(LEADING_TIMESTAMP, "");
  const causedBy = CAUSED_BY.test(body);
  const failure = causedBy || HEADLINE.test(body) || ERROR_LEVEL.test(body);
  const levelled = failure || WARN_LEVEL.test(body) || QUIET_LEVEL.test(body);
  let points = 0;
  if (causedBy) points += isLastCause ? 6 : 4;
  else if (ERROR_LEVEL.test(body)) points += 3;
  else if (HEADLINE.test(body)) points += 2;
  else if (WARN_LEVEL.test(body)) points += 1;
  else if (!levelled && EXPLAINS.test(body)) points += 1;
  if ((failure || !levelled) && ROOT_CAUSE.test(body)) points += 3;
  return points;
}

/**
 * The few log lines that carry a failure: the deepest `Caused by`, the lines
 * that name a missing setting or a refused call, the error headline, repeats
 * collapsed into one line with a count. Stack frames and start-up chatter stay
 * in the log, one check_logs call away. With no such line, the last lines.
 */
export function explainingLines(lines: readonly string[], max = 3): string[] {
  // Collapse repeats (same text once the timestamp is gone), keeping the last position.
  const counts = new Map<string, { count: number; index: number }>();
  lines.forEach((line, index) => {
    const key = compactLine(line);
    if (key === "") return;
    const seen = counts.get(key);
    counts.set(key, { count: (seen?.count ?? 0) + 1, index });
  });
  const distinct = [...counts].map(([text, { count, index }]) => ({ text, count, index }));
  const lastCause = distinct.filter((d) => CAUSED_BY.test(d.text)).at(-1)?.index;
  const ranked = distinct
    .map((d) => ({ ...d, score: score(lines[d.index]!, d.index === lastCause) }))
    .filter((d) => d.score > 0)
    // Higher score first; among equals the later line, closer to the end of the run.
    .sort((a, b) => b.score - a.score || b.index - a.index);
  const chosen =
    ranked.length > 0
      ? ranked.slice(0, max)
      : distinct.filter((d) => !STACK_FRAME.test(lines[d.index]!)).slice(-Math.min(max, 2));
  return chosen
    .sort((a, b) => a.index - b.index)
    .map((d) => (d.count > 1 ? `${d.text} (×${d.count})` : d.text));
}

/**
 * Events as evidence: one line per reason with the total count and the latest
 * message, so a BackOff seen forty times costs one line, not forty.
 */
export function eventLines(
  events: readonly KubeEvent[],
  filter: (e: KubeEvent) => boolean,
  max = 3,
): string[] {
  const byReason = new Map<string, { count: number; message: string }>();
  for (const event of events.filter(filter)) {
    // Liveness and readiness failures share the reason Unhealthy but mean different things.
    const reason =
      event.reason === "Unhealthy"
        ? `Unhealthy ${(event.message ?? "").split(" ")[0] ?? ""}`.trim()
        : (event.reason ?? "");
    const seen = byReason.get(reason);
    byReason.delete(reason);
    byReason.set(reason, {
      count: (seen?.count ?? 0) + Math.max(1, event.count ?? 1),
      message: (event.message ?? "").replace(/\s+/g, " ").trim(),
    });
  }
  return [...byReason].slice(-max).map(([reason, { count, message }]) => {
    return `${reason}${count > 1 ? ` ×${count}` : ""}: ${bounded(message)}`;
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

/**
 * What kind of failure a crash log reports, in Deputy's own words, so the
 * first line can name the cause while the log text itself stays fenced: an
 * attacker who writes the log can only pick among these phrases.
 */
const CRASH_CAUSES: [RegExp, string][] = [
  [
    /\b(not set|missing|is required|undefined|not defined|no value)\b.*\b(config\w*|setting|variable|env\w*|property|key|parameter|option)\b|\b(config\w*|setting|variable|env\w*|property|parameter|option)\b.*\b(not set|missing|is required|undefined|not defined)\b/i,
    "a missing configuration setting",
  ],
  [/connection refused|ECONNREFUSED/i, "a refused connection to a dependency"],
  [
    /no such host|name resolution|could not resolve|unknown ?host|ENOTFOUND/i,
    "a host name that does not resolve",
  ],
  [/timed? ?out|deadline exceeded|ETIMEDOUT/i, "a timeout reaching a dependency"],
  [
    /permission denied|EACCES|access denied|forbidden|unauthori[sz]ed/i,
    "a permission or authentication error",
  ],
  [/out ?of ?memory|cannot allocate/i, "running out of memory"],
  [/address already in use|EADDRINUSE/i, "a port already in use"],
  [/no such file|ENOENT|FileNotFound/i, "a missing file"],
  [/segmentation fault|SIGSEGV|nil pointer|null ?pointer/i, "a crash in the program itself"],
];

export function classifyCrash(lines: readonly string[]): string | undefined {
  // The root cause is usually reported last (the deepest Caused by, the final error).
  for (const line of [...lines].reverse()) {
    const match = CRASH_CAUSES.find(([pattern]) => pattern.test(line));
    if (match) return match[1];
  }
  return undefined;
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
  const logEvidence = (container: string, max?: number): Evidence[] => {
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
            eventLines(events, (e) => /OOM/i.test(e.reason ?? ""), 2),
          ),
          ...logEvidence(container, 2),
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
      const cause = log ? classifyCrash(explainingLines(log.lines)) : undefined;
      const logSays = cause
        ? ` Its log reports ${cause}; the lines below show it.`
        : " The log lines below explain the failure.";
      findings.push({
        rule: "crash-loop",
        severity: "critical",
        summary: `${label} is in CrashLoopBackOff: it has restarted ${cs.restartCount ?? 0} times; the last run ended with ${safe(term?.reason ?? "an unknown reason")}${code === undefined ? "" : `, exit code ${code} (${meaning})`}${term?.finishedAt ? `, ${age(term.finishedAt, now)} ago` : ""}.${log?.lines.length ? logSays : log?.error ? ` No log could be read (${safe(log.error, 80)}).` : ""}`,
        evidence: [
          ...logEvidence(container),
          ...evidence(`container state ${ref}/${container}`, [term?.message ?? ""].filter(Boolean)),
          // BackOff events only repeat the status above; failing probes explain restarts.
          ...evidence(
            eventSource,
            eventLines(events, (e) => e.reason === "Unhealthy", 2),
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
      findings.push({
        rule: "image-pull",
        severity: "critical",
        summary: `${label} cannot start: image ${safe(image, 200)} cannot be pulled (${safe(waiting.reason)}); probable cause: ${classifyPullError(`${message} ${pullEvents.join(" ")}`)}.`,
        // The pull error once: the kubelet's event when there is one, else the container state.
        evidence:
          pullEvents.length > 0
            ? evidence(eventSource, pullEvents)
            : evidence(`container state ${ref}/${container}`, [message].filter(Boolean)),
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
