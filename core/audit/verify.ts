import { auditRecordFromLine, GENESIS_HASH, hashRecord, type AuditRecord } from "./log.ts";

/**
 * Checks a hash chain written by core/audit/log.ts and names the first place it
 * breaks. Each record's hash covers its content and the previous record's
 * hash, and `seq` counts up by one, so:
 *  - an edited line no longer matches its own hash (or, if the editor
 *    re-hashed it, the next line's `prev` no longer matches);
 *  - a deleted line leaves a gap in `seq` and a `prev` that points nowhere;
 *  - a moved line shows up with a `seq` out of order.
 * Lines removed from the END of a file leave no trace in the file itself;
 * compare `lastSeq`/`lastHash` with an anchor kept elsewhere to catch that.
 */

export type ChainBreakReason = "bad-json" | "edited" | "deleted" | "reordered" | "duplicated" | "truncated";

export interface ChainBreak {
  /** 1-based physical line number in the input. */
  line: number;
  reason: ChainBreakReason;
  message: string;
}

export type ChainVerification =
  | {
      ok: true;
      records: number;
      /** How many chains (writers) the input holds. */
      chains: number;
      /** Head of the last chain seen: compare with an anchor kept elsewhere to catch truncation. */
      lastSeq: number | undefined;
      lastHash: string;
    }
  | { ok: false; records: number; break: ChainBreak };

export interface VerifyOptions {
  /**
   * Skip JSON lines that are not audit records (e.g. a stdout capture where
   * other loggers interleave). Lines that are not JSON are still a break.
   */
  ignoreOtherLines?: boolean;
  /** Where the chain starts, for a file that begins mid-chain (rotated logs). */
  start?: { seq: number; prev: string };
  /**
   * Accept each chain's first record as its start (a SIEM export that does
   * not reach back to every writer's first record). Deleting the first
   * records of a chain is then not detectable.
   */
  partial?: boolean;
  /**
   * Heads of chains kept elsewhere (core/audit/anchor.ts): every anchored
   * chain present in the input must reach its head with the same hash, so
   * records deleted from the end are caught too.
   */
  anchors?: Readonly<Record<string, { seq: number; hash: string }>>;
}

interface Entry {
  line: number;
  record: AuditRecord;
}

interface ChainState {
  expectedSeq: number;
  expectedPrev: string;
  previous: Entry | undefined;
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

  const chains = new Map<string, ChainState>();
  let last: { seq: number; hash: string } | undefined;
  for (let index = 0; index < entries.length; index++) {
    const entry = entries[index]!;
    const { record, line } = entry;
    const { hash, ...body } = record;
    const chainId = record.chain ?? "";
    const named = record.chain === undefined ? "" : ` of chain ${record.chain}`;
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
    let state = chains.get(chainId);
    if (!state) {
      state = options.partial
        ? { expectedSeq: record.seq, expectedPrev: record.prev, previous: undefined }
        : {
            expectedSeq: options.start?.seq ?? 0,
            expectedPrev: options.start?.prev ?? GENESIS_HASH,
            previous: undefined,
          };
      chains.set(chainId, state);
    }
    const { expectedSeq, expectedPrev, previous } = state;
    if (record.seq !== expectedSeq) {
      if (previous && record.seq === previous.record.seq) {
        return fail(
          "duplicated",
          `line ${line} repeats seq ${record.seq}${named} from line ${previous.line}`,
        );
      }
      if (record.seq < expectedSeq) {
        return fail(
          "reordered",
          `line ${line} has seq ${record.seq}${named} but seq ${expectedSeq} was expected: it belongs earlier in the chain`,
        );
      }
      const later = entries
        .slice(index + 1)
        .find((other) => (other.record.chain ?? "") === chainId && other.record.seq === expectedSeq);
      if (later) {
        return fail(
          "reordered",
          `line ${line} has seq ${record.seq}${named} but seq ${expectedSeq} was expected; seq ${expectedSeq} ` +
            `appears later, at line ${later.line}`,
        );
      }
      const missing = record.seq - expectedSeq;
      return fail(
        "deleted",
        `${missing} record${missing === 1 ? "" : "s"} (seq ${expectedSeq}` +
          `${missing > 1 ? `–${record.seq - 1}` : ""}${named}) deleted before line ${line}`,
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
    const anchor = record.chain === undefined ? undefined : options.anchors?.[record.chain];
    if (anchor && anchor.seq === record.seq && anchor.hash !== hash) {
      return fail(
        "edited",
        `line ${line} (seq ${record.seq}${named}) does not match the chain's anchored head`,
      );
    }
    state.expectedSeq = record.seq + 1;
    state.expectedPrev = hash;
    state.previous = entry;
    last = { seq: record.seq, hash };
  }
  for (const [chainId, state] of chains) {
    const anchor = chainId === "" ? undefined : options.anchors?.[chainId];
    if (!anchor || !state.previous || state.previous.record.seq >= anchor.seq) continue;
    const missing = anchor.seq - state.previous.record.seq;
    return {
      ok: false,
      records: entries.length,
      break: {
        line: state.previous.line + 1,
        reason: "truncated",
        message:
          `chain ${chainId} ends at seq ${state.previous.record.seq} (line ${state.previous.line}) but its ` +
          `anchored head is seq ${anchor.seq}: ${missing} record${missing === 1 ? "" : "s"} deleted from the end`,
      },
    };
  }
  return {
    ok: true,
    records: entries.length,
    chains: chains.size,
    lastSeq: last?.seq,
    lastHash: last?.hash ?? options.start?.prev ?? GENESIS_HASH,
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
