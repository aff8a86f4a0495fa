import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withFileLock, type FileLockOptions } from "../../devenv/file-lock.ts";

describe("withFileLock", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "deputy-lock-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const options = (said: string[], waitMs = 60_000): FileLockOptions => ({
    waitMs,
    progress: (line) => said.push(line),
    waiting: (holder) => `waiting for ${holder}`,
    timedOut: (holder) => `gave up on ${holder}`,
  });

  it("runs two holders one after the other, and removes the lock after", async () => {
    const file = join(dir, "serial.lock");
    const events: string[] = [];
    const said: string[] = [];
    const hold = (name: string) =>
      withFileLock(file, options(said), async () => {
        events.push(`${name} in`);
        expect(await readFile(file, "utf8")).toBe(String(process.pid));
        await sleep(300);
        events.push(`${name} out`);
        return name;
      });
    expect(await Promise.all([hold("a"), hold("b")])).toEqual(["a", "b"]);
    expect(events).toEqual(["a in", "a out", "b in", "b out"]);
    // The second one waited on a live holder (this process) and said so.
    expect(said).toEqual([`waiting for ${process.pid}`]);
    await expect(readFile(file, "utf8")).rejects.toThrow(/ENOENT/);
  });

  it("takes over a lock whose holder is gone", async () => {
    const file = join(dir, "stale.lock");
    await writeFile(file, "2147483646");
    expect(await withFileLock(file, options([]), async () => "ran")).toBe("ran");
  });

  it("gives up after the wait with the caller's sentence, and frees the lock on failure", async () => {
    const file = join(dir, "held.lock");
    await writeFile(file, String(process.pid));
    await expect(withFileLock(file, options([], 600), async () => "never")).rejects.toThrow(
      `gave up on ${process.pid}`,
    );
    await rm(file);
    await expect(
      withFileLock(file, options([]), async () => {
        throw new Error("build failed");
      }),
    ).rejects.toThrow("build failed");
    await expect(readFile(file, "utf8")).rejects.toThrow(/ENOENT/);
  });
});
