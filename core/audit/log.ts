import { createHash } from "node:crypto";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { hostname } from "node:os";
import { pino, type DestinationStream } from "pino";
import { DeputyError } from "../errors.ts";
import { createLogger, REDACT_PATHS } from "../observability/logger.ts";
import { isSensitiveKey, REDACTED, redactText, redactValue } from "../untrusted/redact.ts";
import { currentTraceId } from "../observability/tracing.ts";
import type { ConversationRef, Identity } from "../identity/identity.ts";

export { REDACTED };

/**
 * The audit trail: one structured event per tool call, policy decision,
 * pending action, approval decision and execution. Events are JSON lines
 * (pino) for a SIEM, hash-chained so an edit, deletion or reordering is
 * detectable (core/audit/verify.ts). Never put a token in an event: lease ids
 * only. Secret-looking values in arguments, prompt and message are redacted
 * BEFORE hashing, so no secret is ever hashed or written and the chain still
 * verifies after pino's own redaction.
 */
export const AUDIT_SCHEMA_VERSION = 1;

export type AuditKind =
  | "tool_call"
  | "policy_decision"
  | "pending_action"
  | "approval_decision"
  | "execution"
  | "anomaly"
  | "triage"
  /** The bot changed an approval card on its own (e.g. its approval window ended). */
  | "card_update";

export interface AuditEvent {
  kind: AuditKind;
  /** Ties tool call, pending action, decision and execution together. */
  actionId?: string;
  actor?: Identity;
  conversation?: ConversationRef;
  /** The user prompt that started the turn. */
  prompt?: string;
  tool?: string;
  arguments?: Record<string, unknown>;
  decision?: "allow" | "deny" | "pending" | "approved" | "rejected" | "expired" | "refused";
  rule?: string;
  approver?: Identity;
  leaseId?: string;
  kubeStatus?: number;
  durationMs?: number;
  outcome?: "ok" | "error" | "succeeded" | "failed" | "interrupted";
  message?: string;
  cluster?: string;
  /** The agent's stated reason for a write (shown on the approval card). */
  reason?: string;
  /** Extra machine-readable facts (never secrets); redacted like arguments. */
  details?: Record<string, unknown>;
  /** The OpenTelemetry trace of the request that caused it (core/observability/tracing.ts); set by `record` when tracing is on. */
  traceId?: string;
}

export interface AuditRecord extends AuditEvent {
  v: number;
  time: string;
  /**
   * Which chain this record belongs to: each writer (replica, process) keeps
   * its own, so a SIEM export that interleaves replicas still verifies.
   */
  chain?: string;
  seq: number;
  prev: string;
  hash: string;
}

export interface AuditLog {
  record(event: AuditEvent): AuditRecord;
}

export type AuditObserver = (record: AuditRecord) => void;

export const GENESIS_HASH = "0".repeat(64);

/** Canonical JSON (sorted keys) so a chain verifies the same everywhere. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) {
    let out = "[";
    // Like JSON.stringify, an undefined array item is null.
    for (let i = 0; i < value.length; i++) out += (i > 0 ? "," : "") + (canonicalJson(value[i]) ?? "null");
    return `${out}]`;
  }
  // Default sort compares UTF-16 code units: the same order everywhere.
  const keys = Object.keys(value).sort();
  let out = "{";
  let first = true;
  for (const key of keys) {
    const item = (value as Record<string, unknown>)[key];
    if (item === undefined) continue;
    out += `${first ? "" : ","}${JSON.stringify(key)}:${canonicalJson(item)}`;
    first = false;
  }
  return `${out}}`;
}

export function hashRecord(record: Omit<AuditRecord, "hash">): string {
  return createHash("sha256").update(canonicalJson(record)).digest("hex");
}

// --- redaction ---------------------------------------------------------------

/**
 * Free text through the shared redactor (core/untrusted/redact.ts), the same one the MCP
 * read tools use on cluster text.
 */
export function redactAuditText(text: string): string {
  return redactText(text);
}

/**
 * Deep copy with secrets redacted. On top of redactValue, any value under a
 * key the logger's REDACT_PATHS name (even a number or an empty string) and
 * any non-string under a secret-named key is blanked: pino would blank it in
 * the written line, and the hash must cover exactly what is written.
 */
export function redactAuditValue(value: unknown): unknown {
  return blankSecretKeys(redactValue(value), 0);
}

function blankSecretKeys(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== "object" || depth > 64) return value;
  if (Array.isArray(value)) return value.map((item) => blankSecretKeys(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    const secret =
      item !== undefined && (PINO_KEYS.has(key) || (typeof item !== "string" && isSensitiveKey(key)));
    out[key] = secret ? REDACTED : blankSecretKeys(item, depth + 1);
  }
  return out;
}

/** Last segments of the logger's redact paths: keys pino blanks whatever they hold. */
const PINO_KEYS = new Set(
  REDACT_PATHS.map((path) =>
    path
      .split(".")
      .pop()!
      .replace(/^headers\[['"]|['"]\]$/g, ""),
  ),
);

/** The event as it will be hashed and written: free-form fields redacted. */
export function redactAuditEvent(event: AuditEvent): AuditEvent {
  const out: AuditEvent = { ...event };
  if (event.prompt !== undefined) out.prompt = redactAuditText(event.prompt);
  if (event.message !== undefined) out.message = redactAuditText(event.message);
  if (event.reason !== undefined) out.reason = redactAuditText(event.reason);
  if (event.arguments !== undefined) {
    out.arguments = redactAuditValue(event.arguments) as Record<string, unknown>;
  }
  if (event.details !== undefined) out.details = redactAuditValue(event.details) as Record<string, unknown>;
  return out;
}

// --- file sink and resume ----------------------------------------------------

/** The last non-empty line of a file, read from the end (files can be large). */
export function readLastLine(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  try {
    let end = fstatSync(fd).size;
    let tail = "";
    const chunk = Buffer.alloc(64 * 1024);
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const read = readSync(fd, chunk, 0, end - start, start);
      tail = chunk.toString("utf8", 0, read) + tail;
      end = start;
      const trimmed = tail.replace(/\s+$/, "");
      const newline = trimmed.lastIndexOf("\n");
      if (newline >= 0) return trimmed.slice(newline + 1);
      if (end === 0) return trimmed.length > 0 ? trimmed : undefined;
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** An audit record out of one JSON line: a pino line `{…, audit: {…}}` or a bare record. */
export function auditRecordFromLine(line: string): AuditRecord | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== "object") return undefined;
  const candidate = "audit" in parsed ? (parsed as { audit: unknown }).audit : parsed;
  if (candidate === null || typeof candidate !== "object") return undefined;
  const record = candidate as Partial<AuditRecord>;
  if (
    typeof record.hash !== "string" ||
    typeof record.prev !== "string" ||
    typeof record.seq !== "number" ||
    typeof record.kind !== "string"
  ) {
    return undefined;
  }
  return record as AuditRecord;
}

function resumePoint(file: string): { prev: string; seq: number; chain?: string } {
  const last = readLastLine(file);
  if (last === undefined) return { prev: GENESIS_HASH, seq: 0 };
  const record = auditRecordFromLine(last);
  if (!record) {
    throw new DeputyError(
      "INTERNAL",
      `audit file ${file} ends with a line that is not an audit record; refusing to continue a chain ` +
        `that cannot be verified (run "deputy audit verify ${file}")`,
    );
  }
  return { prev: record.hash, seq: record.seq + 1, chain: record.chain };
}

/** A chain id unique to this writer: host, process and start time. */
export function newChainId(): string {
  return `${hostname()}/${process.pid}/${Date.now().toString(36)}`;
}

export interface AuditLogOptions {
  /** Where JSON lines go; stdout when neither this nor `file` is given. */
  destination?: DestinationStream;
  /**
   * Append to this file as well (synchronously, so a crash loses nothing that
   * `record` returned). When the file already holds a chain, it continues from
   * its last line, so the chain survives restarts. One writer per file.
   */
  file?: string;
  /**
   * This writer's chain id (e.g. the pod name); a fresh host/pid/time id when
   * unset. A resumed file keeps the chain id of its last record.
   */
  chain?: string;
  /** Observers (metrics, anomaly detection, tests) see every record. */
  onRecord?: AuditObserver | readonly AuditObserver[];
  /** Told when an observer throws; the record is written regardless. */
  onObserverError?: (error: unknown, record: AuditRecord) => void;
}

export function createAuditLog(options: AuditLogOptions = {}): AuditLog {
  const streams: DestinationStream[] = [];
  let prev = GENESIS_HASH;
  let seq = 0;
  let chain: string | undefined = options.chain ?? newChainId();
  if (options.file !== undefined) {
    const resumed = resumePoint(options.file);
    ({ prev, seq } = resumed);
    if (resumed.seq > 0) chain = resumed.chain; // continue exactly the chain in the file
    streams.push(pino.destination({ dest: options.file, sync: true, append: true, mkdir: true }));
  }
  if (options.destination) streams.push(options.destination);
  const destination =
    streams.length === 0
      ? undefined
      : streams.length === 1
        ? streams[0]
        : pino.multistream(streams.map((stream) => ({ stream })));
  const logger = createLogger({ name: "audit", destination, redactValues: false });
  const observers: readonly AuditObserver[] =
    options.onRecord === undefined
      ? []
      : typeof options.onRecord === "function"
        ? [options.onRecord]
        : options.onRecord;
  return {
    record(event) {
      // The JSON round trip makes what is hashed exactly what a reader parses
      // back (Dates become strings, undefined array items become null).
      const clean = JSON.parse(JSON.stringify(redactAuditEvent(event))) as AuditEvent;
      const traceId = clean.traceId ?? currentTraceId();
      if (traceId !== undefined) clean.traceId = traceId;
      const body: Omit<AuditRecord, "hash"> = {
        ...clean,
        v: AUDIT_SCHEMA_VERSION,
        time: new Date().toISOString(),
        chain,
        seq: seq++,
        prev,
      };
      const record: AuditRecord = { ...body, hash: hashRecord(body) };
      prev = record.hash;
      logger.info({ audit: record });
      for (const observer of observers) {
        try {
          observer(record);
        } catch (error) {
          if (options.onObserverError) options.onObserverError(error, record);
          else process.emitWarning(`audit observer failed: ${String(error)}`);
        }
      }
      return record;
    },
  };
}
