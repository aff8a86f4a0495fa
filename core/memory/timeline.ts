import type { PendingAction } from "../actions/schema.ts";
import type { Identity } from "../identity/identity.ts";
import { redactText } from "../untrusted/redact.ts";
import type { JournalEntry } from "./journal.ts";

/**
 * An incident's timeline, from the thread's own record (core/memory/journal.ts)
 * and the stored actions it proposed (the executor's authenticated record of
 * each decision and run): what happened, when, and by whom, with the times
 * a postmortem asks for. Pure: the caller reads, this tells.
 */
export interface TimelineRow {
  at: string;
  /** What happened, in Deputy's words; names of people as identities. */
  what: string;
  who?: Identity;
}

export interface Timeline {
  rows: TimelineRow[];
  /** When the alert fired or the first question came. */
  startedAt: string | undefined;
  /** Milliseconds from the start to… (undefined: it did not happen in this thread). */
  toFirstAnswerMs: number | undefined;
  toFirstApprovedFixMs: number | undefined;
  toVerifiedRecoveryMs: number | undefined;
  resolvedAt: string | undefined;
}

type Action = Pick<
  PendingAction,
  "id" | "tool" | "target" | "state" | "requester" | "decidedBy" | "decidedAt" | "outcome" | "createdAt"
>;

const target = (action: Action): string =>
  `${action.target.kind} ${action.target.namespace ? `${action.target.namespace}/` : ""}${action.target.name}`;

const APPROVED_STATES = new Set(["approved", "executing", "succeeded", "failed", "interrupted"]);

export function buildTimeline(entries: readonly JournalEntry[], actions: readonly Action[]): Timeline {
  const rows: TimelineRow[] = [];
  const byId = new Map(actions.map((action) => [action.id, action]));
  for (const entry of entries) {
    switch (entry.kind) {
      case "alert":
        rows.push({ at: entry.firedAt ?? entry.at, what: `Alert ${entry.name} fired` });
        if (entry.firedAt && entry.firedAt !== entry.at)
          rows.push({ at: entry.at, what: `Alert ${entry.name} posted in the thread` });
        break;
      case "resolved":
        rows.push({ at: entry.at, what: "Alertmanager reported the alert resolved" });
        break;
      case "question":
        rows.push({ at: entry.at, what: `Asked: "${entry.text}"`, who: entry.by });
        break;
      case "answer":
        rows.push({ at: entry.at, what: `Deputy answered (${entry.steps} tool call(s))` });
        break;
      case "step":
        rows.push({
          at: entry.at,
          what: `Investigation: ${entry.tool}${entry.target ? ` on ${entry.target}` : ""}`,
        });
        break;
      case "diagnosis":
        rows.push({
          at: entry.at,
          what: `Diagnosis of ${entry.workload.kind} ${entry.namespace}/${entry.workload.name}: ${entry.causes.map((cause) => cause.key).join(", ") || "no cause named"}`,
        });
        break;
      case "proposal": {
        const action = byId.get(entry.action);
        rows.push({
          at: action?.createdAt ?? entry.at,
          what: `Proposed ${entry.tool}${action ? ` on ${target(action)}` : ""} (${entry.action})`,
          ...(action ? { who: action.requester } : {}),
        });
        break;
      }
      case "verified":
        rows.push({
          at: entry.at,
          what: `Verified outcome of ${entry.action}: ${entry.status === "verified" ? "recovered" : entry.status === "not_verified" ? "not reached" : "could not verify"} (${entry.seconds} s after the run)`,
        });
        break;
    }
  }
  for (const action of actions) {
    if (action.decidedAt && action.decidedBy) {
      const approved = APPROVED_STATES.has(action.state);
      const verb = approved
        ? "Approved"
        : action.state === "rejected"
          ? "Refused"
          : `Decided (${action.state})`;
      rows.push({
        at: action.decidedAt,
        what: `${verb} ${action.tool} on ${target(action)} (${action.id})`,
        who: action.decidedBy,
      });
    } else if (action.state === "expired") {
      rows.push({
        at: action.createdAt,
        what: `${action.tool} on ${target(action)} expired without a decision (${action.id})`,
      });
    }
    if (
      action.outcome &&
      (action.state === "succeeded" || action.state === "failed" || action.state === "interrupted")
    ) {
      rows.push({
        at: action.outcome.finishedAt,
        what: `Executed ${action.tool} on ${target(action)}: ${action.state}${action.outcome.durationMs !== undefined ? ` in ${(action.outcome.durationMs / 1000).toFixed(1)} s` : ""}`,
      });
    }
  }
  rows.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));

  const first = (kinds: readonly JournalEntry["kind"][]): string | undefined =>
    entries
      .filter((entry) => kinds.includes(entry.kind))
      .map((entry) => (entry.kind === "alert" ? (entry.firedAt ?? entry.at) : entry.at))
      .sort((a, b) => Date.parse(a) - Date.parse(b))[0];
  const startedAt = first(["alert", "question"]);
  const since = (at: string | undefined): number | undefined =>
    at === undefined || startedAt === undefined
      ? undefined
      : Math.max(0, Date.parse(at) - Date.parse(startedAt));
  const firstAnswer = first(["answer"]);
  const approvals = actions
    .filter((action) => action.decidedAt && APPROVED_STATES.has(action.state))
    .map((action) => action.decidedAt!)
    .sort((a, b) => Date.parse(a) - Date.parse(b));
  const recovered = entries
    .filter((entry) => entry.kind === "verified" && entry.status === "verified")
    .map((entry) => entry.at)
    .sort((a, b) => Date.parse(a) - Date.parse(b))[0];
  return {
    rows,
    startedAt,
    toFirstAnswerMs: since(firstAnswer),
    toFirstApprovedFixMs: since(approvals[0]),
    toVerifiedRecoveryMs: since(recovered),
    resolvedAt: first(["resolved"]),
  };
}

/** "45 s", "6 min 10 s", "2 h 5 min". */
export function duration(ms: number | undefined): string {
  if (ms === undefined) return "—";
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min${seconds % 60 ? ` ${seconds % 60} s` : ""}`;
  return `${Math.floor(minutes / 60)} h${minutes % 60 ? ` ${minutes % 60} min` : ""}`;
}

/** The timeline as a Markdown document for the postmortem, secrets redacted. */
export function timelineMarkdown(
  timeline: Timeline,
  options: { title: string; person: (identity: Identity) => string; cluster?: string },
): string {
  const cell = (text: string): string => text.replace(/\|/g, "\\|").replace(/\s+/g, " ");
  const lines = [
    `# ${options.title}`,
    "",
    ...(options.cluster ? [`Cluster: ${options.cluster}`, ""] : []),
    `- Started: ${timeline.startedAt ?? "—"}`,
    `- Time to first answer: ${duration(timeline.toFirstAnswerMs)}`,
    `- Time to first approved fix: ${duration(timeline.toFirstApprovedFixMs)}`,
    `- Time to verified recovery: ${duration(timeline.toVerifiedRecoveryMs)}`,
    ...(timeline.resolvedAt ? [`- Alert resolved: ${timeline.resolvedAt}`] : []),
    "",
    "| Time (UTC) | What happened | Who |",
    "| --- | --- | --- |",
    ...timeline.rows.map(
      (row) => `| ${row.at} | ${cell(row.what)} | ${row.who ? cell(options.person(row.who)) : ""} |`,
    ),
    "",
    "From Deputy's record of this thread and the stored actions it proposed; secrets redacted.",
    "",
  ];
  return redactText(lines.join("\n"));
}
