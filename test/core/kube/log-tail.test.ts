import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { tailLogStream } from "../../../core/kube/log-tail.ts";

function* chunks(lines: number, chunkSize: number): Generator<Buffer> {
  let buffer = "";
  for (let i = 0; i < lines; i++) {
    buffer += `line ${i} ${i % 7 === 0 ? "ERROR boom" : "ok"}\n`;
    while (buffer.length >= chunkSize) {
      yield Buffer.from(buffer.slice(0, chunkSize));
      buffer = buffer.slice(chunkSize);
    }
  }
  if (buffer) yield Buffer.from(buffer);
}

/** `megabytes` of log in 64 KiB chunks, made as they are read: the test itself never holds the log. */
async function* lazyLog(megabytes: number, line: (i: number) => string): AsyncGenerator<Buffer> {
  const CHUNK = 64 * 1024;
  let pending = "";
  let produced = 0;
  let i = 0;
  while (produced < megabytes * 1024 * 1024) {
    while (pending.length < CHUNK) pending += line(i++);
    const chunk = Buffer.from(pending.slice(0, CHUNK));
    pending = pending.slice(CHUNK);
    produced += chunk.length;
    yield chunk;
  }
  yield Buffer.from(`${pending}the very end\n`);
}

describe("tailLogStream", () => {
  // The memory bound as behaviour: what the reader holds is counted, not the process's RSS
  // (which other work on the machine moves). Its RSS beside holding the log: npm run bench -- logs.
  it("holds the tail and one chunk of a 100 MB log, never the log", async () => {
    const tailLines = 100;
    const maxLineChars = 2000;
    const tail = await tailLogStream(
      lazyLog(100, (i) => `2025-01-01T00:00:00Z INFO request ${i} ${"x".repeat(60)}\n`),
      {
        tailLines,
        maxLineChars,
      },
    );
    expect(tail.scannedBytes).toBeGreaterThan(100 * 1024 * 1024);
    expect(tail.lines.at(-1)).toBe("the very end");
    expect(tail.lines).toHaveLength(tailLines);
    // 100 kept lines of ~100 characters and one 64 KiB chunk.
    const bound = tailLines * 120 + 64 * 1024 + 200;
    expect(tail.peakHeldChars).toBeLessThanOrEqual(bound);
    expect(tail.peakHeldChars).toBeGreaterThan(64 * 1024);
  });

  it("holds only the matching tail while grepping, and a clipped piece of a line that never ends", async () => {
    const grep = await tailLogStream(
      lazyLog(20, (i) => (i % 1000 === 0 ? `ERROR ${i} ${"e".repeat(5000)}\n` : `ok ${i}\n`)),
      { tailLines: 10, grep: /ERROR/, maxLineChars: 2000 },
    );
    expect(grep.matchedLines).toBeGreaterThan(1000);
    expect(grep.clippedLines).toBe(grep.matchedLines);
    expect(grep.peakHeldChars).toBeLessThanOrEqual(10 * 2020 + 2000 + 64 * 1024 + 5100);

    const endless = await tailLogStream(
      lazyLog(20, () => "y".repeat(1000)),
      {
        tailLines: 5,
        maxLineChars: 2000,
      },
    );
    expect(endless.clippedLines).toBe(1);
    expect(endless.peakHeldChars).toBeLessThanOrEqual(2000 + 64 * 1024 + 1100);
  });

  it("keeps the last N lines across arbitrary chunk boundaries", async () => {
    const tail = await tailLogStream(Readable.from(chunks(10_000, 7)), { tailLines: 3, maxLineChars: 100 });
    expect(tail.lines).toEqual(["line 9997 ok", "line 9998 ok", "line 9999 ok"]);
    expect(tail.scannedLines).toBe(10_000);
  });

  it("filters like grep and counts matches", async () => {
    const tail = await tailLogStream(Readable.from(chunks(100, 64)), {
      tailLines: 2,
      grep: /ERROR/,
      maxLineChars: 100,
    });
    expect(tail.lines).toEqual(["line 91 ERROR boom", "line 98 ERROR boom"]);
    expect(tail.matchedLines).toBe(15);
  });

  it("clips a huge line instead of buffering it", async () => {
    const huge = Readable.from([
      Buffer.from("a".repeat(1_000_000)),
      Buffer.from("b".repeat(1_000_000) + "\nlast\n"),
    ]);
    const tail = await tailLogStream(huge, { tailLines: 5, maxLineChars: 50 });
    expect(tail.lines).toEqual([`${"a".repeat(50)} [… line clipped]`, "last"]);
    expect(tail.clippedLines).toBe(1);
  });

  it("decodes multi-byte characters split across chunks", async () => {
    const bytes = Buffer.from("héllo wörld ✓\n");
    const split = Readable.from([bytes.subarray(0, 2), bytes.subarray(2, 9), bytes.subarray(9)]);
    expect((await tailLogStream(split, { tailLines: 1, maxLineChars: 100 })).lines).toEqual([
      "héllo wörld ✓",
    ]);
  });
});
