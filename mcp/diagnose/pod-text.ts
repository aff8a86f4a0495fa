import type { KubeEvent, Pod } from "../../core/kube/types.ts";
import { CRASH_CAUSE_WORDS } from "../../core/memory/fix-record.ts";
import type { Evidence } from "./types.ts";

/**
 * The text side of pod diagnosis: which log lines explain a crash, events
 * folded into one line per reason, and crash and pull errors named in
 * Deputy's own words.
 */

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

/** Evidence from one source, none when it has no lines. */
export function evidence(source: string, lines: string[]): Evidence[] {
  return lines.length > 0 ? [{ source, lines }] : [];
}

export function memoryLimitOf(pod: Pod, container: string): string | undefined {
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
    "missing-config",
  ],
  [/connection refused|ECONNREFUSED/i, "connection-refused"],
  [/no such host|name resolution|could not resolve|unknown ?host|ENOTFOUND/i, "host-not-found"],
  [/timed? ?out|deadline exceeded|ETIMEDOUT/i, "timeout"],
  [/permission denied|EACCES|access denied|forbidden|unauthori[sz]ed/i, "permission-denied"],
  [/out ?of ?memory|cannot allocate/i, "out-of-memory"],
  [/address already in use|EADDRINUSE/i, "port-in-use"],
  [/no such file|ENOENT|FileNotFound/i, "missing-file"],
  [/segmentation fault|SIGSEGV|nil pointer|null ?pointer/i, "program-crash"],
];

/** The class of failure a crash log reports, as a stable id (a key of CRASH_CAUSE_WORDS). */
export function classifyCrashId(lines: readonly string[]): string | undefined {
  // The root cause is usually reported last (the deepest Caused by, the final error).
  for (const line of [...lines].reverse()) {
    const match = CRASH_CAUSES.find(([pattern]) => pattern.test(line));
    if (match) return match[1];
  }
  return undefined;
}

export function classifyCrash(lines: readonly string[]): string | undefined {
  const id = classifyCrashId(lines);
  return id === undefined ? undefined : CRASH_CAUSE_WORDS[id];
}

/** The class of an image pull error, as a stable id (the image-pull rule's `cause` fact). */
export function classifyPullErrorId(message: string): string {
  if (/not found|manifest unknown|does not exist|NotFound/i.test(message)) return "image-not-found";
  if (/unauthori[sz]ed|denied|authentication required|forbidden|401|403/i.test(message))
    return "registry-auth";
  if (/timeout|no such host|connection refused|i\/o timeout|dial tcp|TLS/i.test(message))
    return "registry-unreachable";
  if (/InvalidImageName|invalid reference format/i.test(message)) return "malformed-reference";
  return "pull-failed";
}

const PULL_ERROR_WORDS: Record<string, string> = {
  "image-not-found": "the image or tag does not exist in the registry",
  "registry-auth": "the registry refused the credentials (check imagePullSecrets)",
  "registry-unreachable": "the registry could not be reached from the node",
  "malformed-reference": "the image reference is malformed",
  "pull-failed": "the image could not be pulled",
};

export function classifyPullError(message: string): string {
  return PULL_ERROR_WORDS[classifyPullErrorId(message)]!;
}
