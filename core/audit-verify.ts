import { auditRecordFromLine, GENESIS_HASH, hashRecord, type AuditRecord } from "./audit.ts";

/**
 * Checks a hash chain written by core/audit.ts and names the first place it
 * breaks. Each record's hash covers its content and the previous record's
 * hash, and `seq` counts up by one, so:
 *  - an edited line no longer matches its own hash (or, if the editor
 *    re-hashed it, the next line's `prev` no longer matches);
 *  - a deleted line leaves a gap in `seq` and a `prev` that points nowhere;
 *  - a moved line shows up with a `seq` out of order.
 * Lines removed from the END of a file leave no trace in the file itself;
 * compare `lastSeq`/`lastHash` with an anchor kept elsewhere to catch that.
 */

export type ChainBreakReason = "bad-json" | "edited" | "deleted" | "reordered" | "duplicated";

export interface ChainBreak {
  /** 1-based physical line number in the input. */
  line: number;
  reason: ChainBreakReason;
  message: string;
}

export type ChainVerification =
  | { ok: true; records: number; lastSeq: number | undefined; lastHash: string }
  | { ok: false; records: number; break: ChainBreak };

export interface VerifyOptions {
  /**
   * Skip JSON lines that are not audit records (e.g. a stdout capture where
   * other loggers interleave). Lines that are not JSON are still a break.
   */
  ignoreOtherLines?: boolean;
  /** Where the chain starts, for a file that begins mid-chain (rotated logs). */
  start?: { seq: number; prev: string };
}

interface Entry {
  line: number;
  record: AuditRecord;
}

export function verifyAuditChain(lines: Iterable<string>, options: VerifyOptions = {}): ChainVerification {
  const entries: Entry[] = [];
  let lineNumber = 0;
  for (const raw of lines) {
    lineNumber++;
    const text = raw.trim();
    if (text.length === 0) continue;
    const record = auditRecordFromLine(text);
    if (!record) {
      const isJson = isJsonObject(text);
      if (options.ignoreOtherLines && isJson) continue;
      return {
        ok: false,
        records: entries.length,
        break: {
          line: lineNumber,
          reason: "bad-json",
          message: isJson
            ? `line ${lineNumber} is JSON but not an audit record (no hash, prev, seq and kind)`
            : `line ${lineNumber} is not valid JSON`,
        },
      };
    }
    entries.push({ line: lineNumber, record });
  }

  let expectedSeq = options.start?.seq ?? 0;
  let expectedPrev = options.start?.prev ?? GENESIS_HASH;
  let previous: Entry | undefined;
  for (let index = 0; index < entries.length; index++) {
    const entry = entries[index]!;
    const { record, line } = entry;
    const { hash, ...body } = record;
    const fail = (reason: ChainBreakReason, message: string): ChainVerification => ({
      ok: false,
      records: index,
      break: { line, reason, message },
    });

    if (hashRecord(body) !== hash) {
      return fail(
        "edited",
        `line ${line} (seq ${record.seq}) was altered: its content does not match its hash`,
      );
    }
    if (record.seq !== expectedSeq) {
      if (previous && record.seq === previous.record.seq) {
        return fail("duplicated", `line ${line} repeats seq ${record.seq} from line ${previous.line}`);
      }
      if (record.seq < expectedSeq) {
        return fail(
          "reordered",
          `line ${line} has seq ${record.seq} but seq ${expectedSeq} was expected: it belongs earlier in the chain`,
        );
      }
      const later = entries.slice(index + 1).find((other) => other.record.seq === expectedSeq);
      if (later) {
        return fail(
          "reordered",
          `line ${line} has seq ${record.seq} but seq ${expectedSeq} was expected; seq ${expectedSeq} ` +
            `appears later, at line ${later.line}`,
        );
      }
      const missing = record.seq - expectedSeq;
      return fail(
        "deleted",
        `${missing} record${missing === 1 ? "" : "s"} (seq ${expectedSeq}` +
          `${missing > 1 ? `–${record.seq - 1}` : ""}) deleted before line ${line}`,
      );
    }
    if (record.prev !== expectedPrev) {
      return fail(
        "edited",
        previous
          ? `line ${line} (seq ${record.seq}) does not chain to line ${previous.line}: one of them was ` +
              `altered and re-hashed`
          : `line ${line} (seq ${record.seq}) does not start from the expected previous hash`,
      );
    }
    expectedSeq = record.seq + 1;
    expectedPrev = hash;
    previous = entry;
  }
  return {
    ok: true,
    records: entries.length,
    lastSeq: previous?.record.seq,
    lastHash: expectedPrev,
  };
}

function isJsonObject(text: string): boolean {
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed !== null && typeof parsed === "object";
  } catch {
    return false;
  }
}

/** Parsed audit records from JSON lines, skipping anything that is not one. */
export function parseAuditRecords(lines: Iterable<string>): AuditRecord[] {
  const records: AuditRecord[] = [];
  for (const line of lines) {
    const record = auditRecordFromLine(line.trim());
    if (record) records.push(record);
  }
  return records;
}
