import { open, stat, type FileHandle } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * Container logs as the kubelet serves them on /containerLogs, read from
 * plain files. Memory stays bounded whatever the file size: tailLines scans
 * backwards in fixed chunks, and the body is streamed chunk by chunk.
 */
export interface LogQuery {
  tailLines?: number;
  limitBytes?: number;
  /** Only lines stamped at or after this instant (RFC 3339 timestamp at line start; unstamped lines follow the previous one). */
  since?: Date;
  timestamps?: boolean;
  follow?: boolean;
}

export interface LogSink {
  /** Returns false when the consumer wants us to wait for `drain`. */
  write(chunk: Buffer): boolean;
  once(event: "drain", listener: () => void): unknown;
}

const CHUNK = 64 * 1024;
/** A line longer than this is passed through in pieces rather than buffered whole. */
const MAX_LINE = 1024 * 1024;
const TIMESTAMP = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))/;

export class LogQueryError extends Error {
  override name = "LogQueryError";
}

function nonNegativeInt(name: string, raw: string | null): number | undefined {
  if (raw === null || raw === "") return undefined;
  if (!/^\d+$/.test(raw)) throw new LogQueryError(`${name} must be a non-negative integer, got "${raw}"`);
  return Number.parseInt(raw, 10);
}

function flag(raw: string | null): boolean {
  return raw === "true" || raw === "1";
}

/** Parse the kubelet's query parameters; bad values are an error naming the parameter. */
export function parseLogQuery(
  params: URLSearchParams,
  now: Date = new Date(),
): LogQuery & { previous: boolean } {
  const query: LogQuery & { previous: boolean } = {
    previous: flag(params.get("previous")),
    follow: flag(params.get("follow")),
    timestamps: flag(params.get("timestamps")),
  };
  const tailLines = nonNegativeInt("tailLines", params.get("tailLines"));
  if (tailLines !== undefined) query.tailLines = tailLines;
  const limitBytes = nonNegativeInt("limitBytes", params.get("limitBytes"));
  if (limitBytes !== undefined) {
    if (limitBytes === 0) throw new LogQueryError("limitBytes must be positive");
    query.limitBytes = limitBytes;
  }
  const sinceSeconds = nonNegativeInt("sinceSeconds", params.get("sinceSeconds"));
  const sinceTime = params.get("sinceTime");
  if (sinceSeconds !== undefined) {
    query.since = new Date(now.getTime() - sinceSeconds * 1000);
  } else if (sinceTime) {
    const parsed = new Date(sinceTime);
    if (Number.isNaN(parsed.getTime()))
      throw new LogQueryError(`sinceTime must be RFC 3339, got "${sinceTime}"`);
    query.since = parsed;
  }
  return query;
}

/** Byte offset where the last `lines` lines of the file begin. */
export async function tailOffset(handle: FileHandle, size: number, lines: number): Promise<number> {
  if (lines === 0) return size;
  if (size === 0) return 0;
  const buffer = Buffer.alloc(CHUNK);
  let position = size;
  // A final newline ends the last line; it does not start an empty one.
  let needed = lines;
  let skipTrailing = true;
  while (position > 0) {
    const length = Math.min(CHUNK, position);
    position -= length;
    await handle.read(buffer, 0, length, position);
    for (let index = length - 1; index >= 0; index--) {
      if (buffer[index] !== 0x0a) {
        skipTrailing = false;
        continue;
      }
      if (skipTrailing) {
        skipTrailing = false;
        continue;
      }
      needed--;
      if (needed === 0) return position + index + 1;
    }
  }
  return 0;
}

/** Filters and decorates whole lines; passes bytes through untouched when no line work is needed. */
class LineProcessor {
  private carry: Buffer = Buffer.alloc(0);
  private included: boolean;
  private lastStamp: string;
  private readonly since: Date | undefined;
  private readonly timestamps: boolean;

  constructor(query: LogQuery, fallbackStamp: string) {
    this.since = query.since;
    this.timestamps = query.timestamps ?? false;
    // Lines before the first timestamp cannot be placed in time; keep them.
    this.included = true;
    this.lastStamp = fallbackStamp;
  }

  get needed(): boolean {
    return this.since !== undefined || this.timestamps;
  }

  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let data = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    let start = 0;
    for (;;) {
      const newline = data.indexOf(0x0a, start);
      if (newline === -1) break;
      const line = this.line(data.subarray(start, newline + 1));
      if (line) out.push(line);
      start = newline + 1;
    }
    data = data.subarray(start);
    if (data.length > MAX_LINE) {
      const line = this.line(data);
      if (line) out.push(line);
      data = Buffer.alloc(0);
    }
    this.carry = Buffer.from(data);
    return out;
  }

  flush(): Buffer[] {
    if (this.carry.length === 0) return [];
    const line = this.line(this.carry);
    this.carry = Buffer.alloc(0);
    return line ? [line] : [];
  }

  private line(line: Buffer): Buffer | undefined {
    const head = line.subarray(0, 40).toString("latin1");
    const match = TIMESTAMP.exec(head);
    if (match) {
      this.lastStamp = match[1]!;
      if (this.since) {
        const at = new Date(this.lastStamp);
        this.included = Number.isNaN(at.getTime()) || at.getTime() >= this.since.getTime();
      }
    }
    if (!this.included) return undefined;
    if (!this.timestamps) return line;
    return Buffer.concat([Buffer.from(`${new Date(this.lastStamp).toISOString()} `), line]);
  }
}

/**
 * Stream `path` to `sink` honouring the query. With `follow`, keeps sending
 * appended bytes until `signal` aborts. Resolves when done.
 */
export async function streamLogFile(
  path: string,
  query: LogQuery,
  sink: LogSink,
  signal: AbortSignal,
): Promise<void> {
  const handle = await open(path, "r");
  try {
    const info = await handle.stat();
    let position = query.tailLines === undefined ? 0 : await tailOffset(handle, info.size, query.tailLines);
    let remaining = query.limitBytes ?? Number.POSITIVE_INFINITY;
    const processor = new LineProcessor(query, info.mtime.toISOString());
    const buffer = Buffer.alloc(CHUNK);

    const emit = async (parts: Buffer[]): Promise<boolean> => {
      // One write per chunk read, not per line.
      const pieces = parts.length > 1 ? [Buffer.concat(parts)] : parts;
      for (const piece of pieces) {
        if (remaining <= 0) return false;
        const part = piece.length > remaining ? piece.subarray(0, remaining) : piece;
        remaining -= part.length;
        if (!sink.write(Buffer.from(part))) {
          await new Promise<void>((resolveDrain) => {
            const onAbort = (): void => resolveDrain();
            signal.addEventListener("abort", onAbort, { once: true });
            sink.once("drain", () => {
              signal.removeEventListener("abort", onAbort);
              resolveDrain();
            });
          });
        }
        if (signal.aborted) return false;
      }
      return remaining > 0;
    };

    for (;;) {
      if (signal.aborted) return;
      const { bytesRead } = await handle.read(buffer, 0, CHUNK, position);
      if (bytesRead > 0) {
        position += bytesRead;
        const chunk = buffer.subarray(0, bytesRead);
        const pieces = processor.needed ? processor.push(chunk) : [chunk];
        if (!(await emit(pieces))) return;
        continue;
      }
      if (!query.follow) {
        await emit(processor.flush());
        return;
      }
      // Following: wait for the file to grow (or be truncated and rewritten).
      await sleep(250, undefined, { signal }).catch(() => undefined);
      const now = await stat(path).catch(() => undefined);
      if (now && now.size < position) position = 0;
    }
  } finally {
    await handle.close();
  }
}
