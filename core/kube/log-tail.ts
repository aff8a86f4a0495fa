import { StringDecoder } from "node:string_decoder";

/**
 * Reads a log stream line by line and keeps only the last N (matching) lines
 * in a ring buffer, so memory stays bounded whatever the log's size: a 100 MB
 * log costs N lines of memory, not 100 MB. Over-long lines are clipped.
 */
export interface LogTailOptions {
  /** How many lines to keep (the tail). */
  tailLines: number;
  /** Keep only lines matching this (grep-style). */
  grep?: RegExp | undefined;
  /** Clip any line longer than this many characters. */
  maxLineChars: number;
  /** Stop reading after this many bytes (the rest is reported as unread). */
  maxScanBytes?: number | undefined;
}

export interface LogTail {
  lines: string[];
  scannedLines: number;
  matchedLines: number;
  scannedBytes: number;
  clippedLines: number;
  /** True when maxScanBytes stopped the scan before the stream ended. */
  stoppedEarly: boolean;
  /**
   * The most characters held at once: the kept lines, the unfinished line and
   * the chunk being read. Bounded by the tail and one chunk, not by the log.
   */
  peakHeldChars: number;
}

export async function tailLogStream(
  stream: AsyncIterable<Buffer | string>,
  options: LogTailOptions,
): Promise<LogTail> {
  const size = Math.max(1, options.tailLines);
  const ring: string[] = new Array<string>(size);
  let next = 0;
  let kept = 0;
  let scannedLines = 0;
  let matchedLines = 0;
  let scannedBytes = 0;
  let clippedLines = 0;
  let partial = "";
  let partialClipped = false;
  let ringChars = 0;
  let peakHeldChars = 0;
  const decoder = new StringDecoder("utf8");

  const accept = (line: string, clipped: boolean): void => {
    scannedLines += 1;
    if (line.endsWith("\r")) line = line.slice(0, -1);
    if (options.grep && !options.grep.test(line)) return;
    matchedLines += 1;
    if (clipped) clippedLines += 1;
    const keptLine = clipped ? `${line} [… line clipped]` : line;
    ringChars += keptLine.length - (ring[next]?.length ?? 0);
    ring[next] = keptLine;
    next = (next + 1) % size;
    kept = Math.min(size, kept + 1);
  };

  const feed = (text: string): void => {
    peakHeldChars = Math.max(peakHeldChars, ringChars + partial.length + text.length);
    let start = 0;
    for (;;) {
      const newline = text.indexOf("\n", start);
      const piece = newline === -1 ? text.slice(start) : text.slice(start, newline);
      if (!partialClipped) {
        const room = options.maxLineChars - partial.length;
        if (piece.length > room) {
          partial += piece.slice(0, Math.max(0, room));
          partialClipped = true;
        } else {
          partial += piece;
        }
      }
      if (newline === -1) {
        peakHeldChars = Math.max(peakHeldChars, ringChars + partial.length + text.length);
        return;
      }
      accept(partial, partialClipped);
      peakHeldChars = Math.max(peakHeldChars, ringChars + partial.length + text.length);
      partial = "";
      partialClipped = false;
      start = newline + 1;
    }
  };

  let stoppedEarly = false;
  for await (const chunk of stream) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    scannedBytes += buffer.length;
    feed(decoder.write(buffer));
    if (options.maxScanBytes !== undefined && scannedBytes >= options.maxScanBytes) {
      stoppedEarly = true;
      break;
    }
  }
  feed(decoder.end());
  if (partial.length > 0 || partialClipped) accept(partial, partialClipped);

  const lines: string[] = [];
  for (let i = 0; i < kept; i++) lines.push(ring[(next - kept + i + size) % size]!);
  return { lines, scannedLines, matchedLines, scannedBytes, clippedLines, stoppedEarly, peakHeldChars };
}
