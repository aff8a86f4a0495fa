import { createHash } from "node:crypto";
import type { DestinationStream } from "pino";
import { createLogger } from "./logger.ts";
import type { ConversationRef, Identity } from "./identity.ts";

/**
 * The audit trail: one structured event per tool call, policy decision,
 * pending action, approval decision and execution. Events are JSON lines
 * (pino) for a SIEM. Never put a token in an event: lease ids only.
 */
export const AUDIT_SCHEMA_VERSION = 1;

export type AuditKind =
  | "tool_call"
  | "policy_decision"
  | "pending_action"
  | "approval_decision"
  | "execution"
  | "anomaly"
  | "triage";

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
  outcome?: "ok" | "error" | "succeeded" | "failed";
  message?: string;
  cluster?: string;
}

export interface AuditRecord extends AuditEvent {
  v: number;
  time: string;
  seq: number;
  prev: string;
  hash: string;
}

export interface AuditLog {
  record(event: AuditEvent): AuditRecord;
}

export const GENESIS_HASH = "0".repeat(64);

/** Canonical JSON (sorted keys) so a chain verifies the same everywhere. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

export function hashRecord(record: Omit<AuditRecord, "hash">): string {
  return createHash("sha256").update(canonicalJson(record)).digest("hex");
}

export interface AuditLogOptions {
  destination?: DestinationStream;
  /** Observers (metrics, anomaly detection, tests) see every record. */
  onRecord?: (record: AuditRecord) => void;
}

export function createAuditLog(options: AuditLogOptions = {}): AuditLog {
  const logger = createLogger({ name: "audit", destination: options.destination });
  let prev = GENESIS_HASH;
  let seq = 0;
  return {
    record(event) {
      const body: Omit<AuditRecord, "hash"> = {
        ...event,
        v: AUDIT_SCHEMA_VERSION,
        time: new Date().toISOString(),
        seq: seq++,
        prev,
      };
      const record: AuditRecord = { ...body, hash: hashRecord(body) };
      prev = record.hash;
      logger.info({ audit: record });
      options.onRecord?.(record);
      return record;
    },
  };
}
