import { constants } from "node:fs";
import { open, readFile, rm } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { DeputyError } from "../core/errors.ts";

export interface FileLockOptions {
  /** How long to wait for another holder before giving up. */
  waitMs: number;
  progress: (line: string) => void;
  /** Said at once and then every minute while another live process holds the lock. */
  waiting: (holder: number, minutes: number) => string;
  /** The error sentence when the wait runs out. */
  timedOut: (holder: number) => string;
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Run `fn` holding a lock file that names this process (created with
 * O_EXCL, so across processes: vitest workers, CLI runs, other test runs).
 * A holder that dies frees the lock at once; its directory must exist.
 */
export async function withFileLock<T>(
  file: string,
  options: FileLockOptions,
  fn: () => Promise<T>,
): Promise<T> {
  const waitingSince = Date.now();
  const deadline = waitingSince + options.waitMs;
  let nextNotice = 0;
  for (;;) {
    try {
      const handle = await open(file, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY);
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = Number.parseInt(await readFile(file, "utf8").catch(() => ""), 10);
      if (!isAlive(holder)) {
        // Empty lock file: its writer may be between create and write; give it a moment.
        if (!Number.isInteger(holder)) await sleep(200);
        const again = await readFile(file, "utf8").catch(() => "");
        if (again === "" || Number.parseInt(again, 10) === holder) await rm(file, { force: true });
        continue;
      }
      // Say so at once and then every minute, so a long build never looks like a hang.
      if (Date.now() >= nextNotice) {
        options.progress(options.waiting(holder, Math.round((Date.now() - waitingSince) / 60_000)));
        nextNotice = Date.now() + 60_000;
      }
      if (Date.now() > deadline) throw new DeputyError("TESTENV_FAILED", options.timedOut(holder));
      await sleep(500);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(file, { force: true });
  }
}
