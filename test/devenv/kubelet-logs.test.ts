import { appendFile, mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  LogQueryError,
  parseLogQuery,
  streamLogFile,
  tailOffset,
  type LogQuery,
} from "../../devenv/kubelet-logs.ts";

/** The fake kubelet's log reading on its own: exact bytes, bounded memory. */
describe("kubelet log files", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "deputy-logs-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function read(text: string | Buffer, query: LogQuery): Promise<string> {
    const file = join(dir, `log-${Math.random().toString(36).slice(2)}.log`);
    await writeFile(file, text);
    const chunks: Buffer[] = [];
    const sink = { write: (chunk: Buffer) => chunks.push(chunk) > 0, once: () => undefined };
    await streamLogFile(file, query, sink, new AbortController().signal);
    return Buffer.concat(chunks).toString("utf8");
  }

  it("tails lines whether or not the file ends in a newline", async () => {
    expect(await read("a\nb\nc\n", { tailLines: 2 })).toBe("b\nc\n");
    expect(await read("a\nb\nc", { tailLines: 2 })).toBe("b\nc");
    expect(await read("a\nb\nc\n", { tailLines: 10 })).toBe("a\nb\nc\n");
    expect(await read("a\nb\nc\n", { tailLines: 0 })).toBe("");
    expect(await read("", { tailLines: 3 })).toBe("");
    expect(await read("a\n\n\n", { tailLines: 2 })).toBe("\n\n");
  });

  it("finds the tail across chunk boundaries", async () => {
    const line = `${"y".repeat(1000)}\n`;
    const text = line.repeat(300) + "last\n";
    const file = join(dir, "chunks.log");
    await writeFile(file, text);
    const handle = await open(file, "r");
    try {
      expect(await tailOffset(handle, text.length, 2)).toBe(text.length - line.length - 5);
    } finally {
      await handle.close();
    }
  });

  it("cuts at limitBytes, after applying tailLines", async () => {
    expect(await read("one\ntwo\nthree\n", { limitBytes: 5 })).toBe("one\nt");
    expect(await read("one\ntwo\nthree\n", { tailLines: 1, limitBytes: 3 })).toBe("thr");
  });

  it("filters by sinceSeconds on timestamps at line start; unstamped lines follow the line before", async () => {
    const now = Date.parse("2030-01-01T12:00:00Z");
    const text = [
      "2030-01-01T11:00:00Z old",
      "  old continuation",
      "2030-01-01T11:59:30.123456789Z new",
      "  new continuation",
      "",
    ].join("\n");
    const query = parseLogQuery(new URLSearchParams("sinceSeconds=60"), new Date(now));
    expect(await read(text, query)).toBe("2030-01-01T11:59:30.123456789Z new\n  new continuation\n");
    expect(await read("no stamps\nat all\n", query)).toBe("no stamps\nat all\n");
  });

  it("prefixes each line with its timestamp when asked, as the kubelet does", async () => {
    const text = "2030-01-01T11:00:00Z first\n  continuation\n";
    expect(await read(text, { timestamps: true })).toBe(
      "2030-01-01T11:00:00.000Z 2030-01-01T11:00:00Z first\n2030-01-01T11:00:00.000Z   continuation\n",
    );
  });

  it("follows a growing file until the client goes away", async () => {
    const file = join(dir, "follow.log");
    await writeFile(file, "one\n");
    const chunks: Buffer[] = [];
    const abort = new AbortController();
    const sink = { write: (chunk: Buffer) => chunks.push(chunk) > 0, once: () => undefined };
    const done = streamLogFile(file, { follow: true }, sink, abort.signal);
    // Appended only once the first line is out, so the second is found by following, not by the first read.
    await expect.poll(() => Buffer.concat(chunks).toString(), { timeout: 30_000 }).toBe("one\n");
    await appendFile(file, "two\n");
    // The follower looks every 250 ms; a loaded machine can stretch that well past a few seconds.
    const deadline = Date.now() + 30_000;
    while (!Buffer.concat(chunks).toString().includes("two") && Date.now() < deadline) {
      await new Promise((resolveWait) => setTimeout(resolveWait, 50));
    }
    abort.abort();
    await done;
    expect(Buffer.concat(chunks).toString()).toBe("one\ntwo\n");
  });

  it("rejects bad query values with a message naming the parameter", () => {
    expect(() => parseLogQuery(new URLSearchParams("tailLines=-1"))).toThrow(LogQueryError);
    expect(() => parseLogQuery(new URLSearchParams("tailLines=ten"))).toThrow(/tailLines/);
    expect(() => parseLogQuery(new URLSearchParams("limitBytes=0"))).toThrow(/limitBytes/);
    expect(() => parseLogQuery(new URLSearchParams("sinceTime=yesterday"))).toThrow(/sinceTime/);
    expect(parseLogQuery(new URLSearchParams("previous=true&tailLines=5"))).toMatchObject({
      previous: true,
      tailLines: 5,
    });
  });

  // Bounded memory as behaviour, not RSS (which other work on the machine moves): it reads
  // a chunk, hands it over, and reads the next only once the consumer has drained.
  it("streams a 100 MB file a chunk at a time, waiting for the consumer", async () => {
    const file = join(dir, "big.log");
    const handle = await open(file, "w");
    const block = Buffer.from(`${"z".repeat(1023)}\n`.repeat(1024)); // 1 MiB
    for (let i = 0; i < 100; i++) await handle.write(block);
    await handle.write("end\n");
    await handle.close();

    let bytes = 0;
    let writes = 0;
    let largest = 0;
    let outstanding = 0;
    let mostOutstanding = 0;
    const sink = {
      // Always "full": every write must wait for drain before the next.
      write: (chunk: Buffer) => {
        bytes += chunk.length;
        writes++;
        largest = Math.max(largest, chunk.length);
        outstanding++;
        mostOutstanding = Math.max(mostOutstanding, outstanding);
        return false;
      },
      once: (_event: "drain", listener: () => void) => {
        setImmediate(() => {
          outstanding = 0;
          listener();
        });
      },
    };
    await streamLogFile(file, { since: new Date(0) }, sink, new AbortController().signal);
    expect(bytes).toBe(100 * block.length + 4);
    expect(largest).toBeLessThanOrEqual(64 * 1024);
    expect(writes).toBeGreaterThanOrEqual(1600);
    expect(mostOutstanding).toBe(1);
  });
});
