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

describe("tailLogStream", () => {
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
