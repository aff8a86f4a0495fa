import type { webApi } from "@slack/bolt";
import type { Redis } from "ioredis";
import type { PendingAction } from "../../core/actions/schema.ts";
import { createNamespacePolicy } from "../../core/kube/namespace-policy.ts";
import { describeError } from "../../core/errors.ts";
import type { ConversationRef } from "../../core/identity/identity.ts";
import type { Logger } from "../../core/observability/logger.ts";
import { memoryCloseTag, memoryOpenTag, neutraliseFenceTags } from "../../core/untrusted/fence.ts";
import type { DiagnosedWorkload } from "../../core/memory/diagnosis.ts";
import {
  changeOf,
  describeCause,
  describeChange,
  fixRecordSchema,
  type FixRecord,
  type FixResult,
} from "../../core/memory/fix-record.ts";
import { createFixMemory, type FixMemory, type Recall } from "../../core/memory/fix-store.ts";
import {
  createThreadJournal,
  type JournalEntry,
  type JournalInput,
  type ThreadJournal,
} from "../../core/memory/journal.ts";
import type { RequesterAccess } from "../access.ts";

/**
 * Deputy's memory of incidents, as the bot uses it: fixes remembered from
 * verified outcomes (core/memory/fix-store.ts) and each thread's own record
 * (core/memory/journal.ts). Everything here fails soft: a memory that cannot
 * be read or written never stops an answer, a card or a verdict.
 */
export interface IncidentMemory {
  fixes: FixMemory;
  journal: ThreadJournal;
}

export function createIncidentMemory(
  redis: Redis,
  options: { prefix: string; retentionSeconds: number; now?: () => number },
): IncidentMemory {
  return {
    fixes: createFixMemory(redis, options),
    journal: createThreadJournal(redis, options),
  };
}

/** What the memory's helpers need of the bot's services (passed in, never imported). */
export interface MemoryServices {
  /** Undefined when the memory is off (DEPUTY_MEMORY_RETENTION_DAYS=0). */
  memory: IncidentMemory | undefined;
  logger: Logger;
  access: Pick<RequesterAccess, "scopeOf">;
}

/** Slack's own conversations only: the console's and the CLI's are not remembered. */
function threadOf(conversation: ConversationRef): { channel: string; thread: string } | undefined {
  if (conversation.surface !== "slack") return undefined;
  return { channel: conversation.channel, thread: conversation.thread };
}

/** Note something in the thread's record; a failure is logged, never raised. */
export async function noteInThread(
  services: Pick<MemoryServices, "memory" | "logger">,
  conversation: ConversationRef,
  entry: JournalInput,
): Promise<void> {
  const thread = threadOf(conversation);
  if (!services.memory || !thread) return;
  await services.memory.journal
    .add(thread, entry)
    .catch((error: unknown) =>
      services.logger.warn(
        { err: describeError(error), entry: entry.kind },
        "could not note it in the thread's record",
      ),
    );
}

/** Whether this conversation may see namespace `namespace` (its channel's or the DM scope). */
export function namespaceInScope(
  services: Pick<MemoryServices, "access">,
  conversation: ConversationRef,
  namespace: string,
): boolean {
  const verdict = services.access.scopeOf(conversation);
  if (verdict.kind === "refused") return false;
  if (verdict.kind === "unscoped") return true;
  return createNamespacePolicy({ allow: [], deny: [], scope: verdict.scope }).allows(namespace);
}

/** A remembered fix that matches a diagnosis in this conversation. */
export interface FoundFix {
  recall: Recall;
  /** The served cluster the diagnosis (and the fix) is in. */
  cluster: string;
  /** The workload diagnosed now: "Propose the same fix" proposes on it. */
  diagnosed: DiagnosedWorkload;
}

/**
 * Diagnoses just made in a conversation: noted in the thread's record, and
 * the best remembered fix for the first of them this conversation may see
 * (its cluster, its namespace scope). The note and the recall share ONE
 * Redis round trip: the diagnosis costs no more than that.
 */
export async function recallForDiagnoses(
  services: MemoryServices,
  conversation: ConversationRef,
  cluster: string,
  diagnoses: readonly DiagnosedWorkload[],
): Promise<FoundFix | undefined> {
  const memory = services.memory;
  const thread = threadOf(conversation);
  if (!memory || !thread) return undefined;
  const visible = diagnoses.filter((d) => namespaceInScope(services, conversation, d.namespace));
  const diagnosed = visible[0];
  if (!diagnosed) return undefined;
  let recall: Recall | undefined;
  try {
    recall = await memory.fixes.recall(
      {
        cluster,
        namespace: diagnosed.namespace,
        workload: diagnosed.workload.name,
        causeKeys: diagnosed.causes.map((cause) => cause.key),
        // What this thread fixed itself is already in it.
        besidesThread: { channel: thread.channel, ts: thread.thread },
      },
      (pipeline) => {
        for (const each of visible) {
          memory.journal.queue(pipeline, thread, {
            kind: "diagnosis",
            cluster,
            namespace: each.namespace,
            workload: each.workload,
            ...(each.pod ? { pod: each.pod } : {}),
            causes: each.causes.slice(0, 8),
          });
        }
      },
    );
  } catch (error) {
    services.logger.warn({ err: describeError(error) }, "could not recall earlier fixes");
    return undefined;
  }
  return recall ? { recall, cluster, diagnosed } : undefined;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** "3 Dec" (UTC), or "3 Dec 2025" in another year than now. */
export function shortDate(iso: string, now: number = Date.now()): string {
  const date = new Date(iso);
  const year = date.getUTCFullYear() === new Date(now).getUTCFullYear() ? "" : ` ${date.getUTCFullYear()}`;
  return `${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]}${year}`;
}

const RESULT_WORDS: Record<FixResult, string> = {
  healthy: "verified healthy",
  stuck: "not verified: the rollout got stuck",
  unverified: "its effect could not be verified",
  failed: "it failed to run",
};

/** How one remembered fix fared, in Deputy's words. */
export function fixOutcomeWords(fix: FixRecord): string {
  const after =
    fix.result === "healthy" && fix.verifiedSeconds !== undefined ? ` after ${fix.verifiedSeconds} s` : "";
  return `${RESULT_WORDS[fix.result]}${after}${fix.undone ? ", later undone" : ""}`;
}

/** "2 worked, 1 did not (1 undone)". */
export function countsWords(counts: Recall["counts"]): string {
  const failedRuns = counts.undone + counts.stuck + counts.failed + counts.unverified;
  const why = (
    [
      ["undone", counts.undone],
      ["stuck", counts.stuck],
      ["failed", counts.failed],
      ["not verified", counts.unverified],
    ] as const
  )
    .filter(([, n]) => n > 0)
    .map(([word, n]) => `${n} ${word}`)
    .join(", ");
  return `${counts.worked} worked, ${failedRuns} did not${why ? ` (${why})` : ""}`;
}

/**
 * The remembered fix for the model, as Deputy's trusted note: only the
 * record's own facts (names, rule ids, counts), inside Deputy's memory tag.
 */
export function memoryNoteForAgent(found: FoundFix, now: number = Date.now()): string {
  const { fix, counts, sameWorkload } = found.recall;
  const where = `${fix.workload.kind} ${fix.namespace}/${fix.workload.name}`;
  const body = [
    `From Deputy's own records of approved, executed and verified changes (cluster ${found.cluster}):`,
    `on ${shortDate(fix.ranAt, now)} ${fix.cause ? `the same cause (${describeCause(fix.cause)}, rule ${fix.cause.rule})` : "a change"} on ${where}${sameWorkload ? " (the workload diagnosed now)" : ` (another workload; diagnosed now: ${found.diagnosed.workload.kind} ${found.diagnosed.namespace}/${found.diagnosed.workload.name})`} was met by ${fix.change.tool}: ${describeChange(fix.change)}.`,
    `Requested by ${idOf(fix.requester)}, approved by ${fix.approver ? idOf(fix.approver) : "unknown"}; result: ${fixOutcomeWords(fix)}.`,
    `Every remembered run of this fix for this cause in the namespace: ${countsWords(counts)}.`,
  ].join("\n");
  return `${memoryOpenTag(fix.id)}\n${neutraliseFenceTags(body)}\n${memoryCloseTag()}`;
}

const idOf = (identity: { kind: string; id: string }): string => `${identity.kind}:${identity.id}`;

/** What a verification ended with, as a remembered result. */
export type Verdict = { status: "verified" | "not_verified" | "unknown"; seconds: number } | "failed";

function resultOf(verdict: Verdict): FixResult {
  if (verdict === "failed") return "failed";
  return verdict.status === "verified"
    ? "healthy"
    : verdict.status === "not_verified"
      ? "stuck"
      : "unverified";
}

/** The diagnosis in the thread that led to an action on this workload: the last one before it. */
function diagnosisBefore(
  entries: readonly JournalEntry[],
  action: PendingAction,
  namespace: string,
): Extract<JournalEntry, { kind: "diagnosis" }> | undefined {
  const name = action.target.name;
  const diagnoses = entries.filter(
    (entry): entry is Extract<JournalEntry, { kind: "diagnosis" }> =>
      entry.kind === "diagnosis" &&
      entry.namespace === namespace &&
      (entry.workload.name === name || entry.pod === name),
  );
  const before = diagnoses.filter((entry) => Date.parse(entry.at) <= Date.parse(action.createdAt));
  return before.at(-1) ?? diagnoses.at(-1);
}

/**
 * An executed action's outcome, remembered as a fix: the workload, the cause
 * the thread diagnosed before it, the change, the people, the times and
 * Deputy's verdict. An undo Deputy proposed marks the fix it undid. Cluster-
 * scoped actions (nodes) and conversations outside Slack are not remembered.
 */
export async function rememberOutcome(
  services: Pick<MemoryServices, "memory" | "logger">,
  client: webApi.WebClient,
  input: { action: PendingAction; cluster: string; conversation: ConversationRef; verdict: Verdict },
): Promise<void> {
  const { memory } = services;
  const { action, cluster, conversation } = input;
  const thread = threadOf(conversation);
  const namespace = action.target.namespace;
  if (!memory || !thread || !namespace) return;
  try {
    // An undo Deputy proposed marks the fix it undid; it is no fix of a cause itself.
    if (await memory.fixes.settleUndo(cluster, action.id)) return;
    const entries = await memory.journal.read(thread);
    const diagnosis = diagnosisBefore(entries, action, namespace);
    const workload =
      action.target.kind === "Pod" && diagnosis
        ? diagnosis.workload
        : { kind: action.target.kind, name: action.target.name };
    const link = await client.chat
      .getPermalink({ channel: thread.channel, message_ts: thread.thread })
      .then((answer) => answer.permalink)
      .catch(() => undefined);
    const verdict = input.verdict;
    const candidate = {
      v: 1,
      id: action.id,
      cluster,
      namespace,
      workload,
      ...(diagnosis?.causes[0] ? { cause: diagnosis.causes[0] } : {}),
      change: changeOf(action.tool, action.arguments),
      requester: action.requester,
      ...(action.decidedBy ? { approver: action.decidedBy } : {}),
      proposedAt: action.createdAt,
      ...(action.decidedAt ? { approvedAt: action.decidedAt } : {}),
      ranAt: action.outcome?.finishedAt ?? new Date().toISOString(),
      result: resultOf(verdict),
      ...(verdict !== "failed" ? { verifiedSeconds: verdict.seconds } : {}),
      thread: {
        channel: thread.channel,
        ts: thread.thread,
        ...(conversation.teamId ? { teamId: conversation.teamId } : {}),
        ...(link ? { link } : {}),
      },
      recordedAt: new Date().toISOString(),
    };
    const parsed = fixRecordSchema.safeParse(candidate);
    if (!parsed.success) {
      services.logger.info({ actionId: action.id }, "executed action not remembered: not a workload fix");
      return;
    }
    await memory.fixes.record(parsed.data);
  } catch (error) {
    services.logger.warn({ err: describeError(error), actionId: action.id }, "could not remember the fix");
  }
}
