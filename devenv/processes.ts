import { spawn } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import { mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { DeputyError } from "../core/errors.ts";

/**
 * Detached child processes with pid files. `down` must stop exactly what `up`
 * started, so each pid file also records the executable, and a pid is only
 * signalled while /proc says it still runs that executable (pids get reused).
 */
export interface ProcessRecord {
  name: string;
  pid: number;
  executable: string;
  log: string;
}

export interface StartOptions {
  name: string;
  executable: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  pidDir: string;
  logDir: string;
}

export async function startDetached(options: StartOptions): Promise<ProcessRecord> {
  await mkdir(options.pidDir, { recursive: true });
  await mkdir(options.logDir, { recursive: true });
  const log = join(options.logDir, `${options.name}.log`);
  // Each start gets a fresh log: old lines from an earlier environment only mislead.
  const fd = openSync(log, "w");
  try {
    const child = spawn(options.executable, options.args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: true,
      stdio: ["ignore", fd, fd],
    });
    const pid = await new Promise<number>((resolvePid, reject) => {
      child.once("error", (error) =>
        reject(
          new DeputyError(
            "TESTENV_FAILED",
            `cannot start ${options.name} (${options.executable}): ${error.message}`,
            {
              cause: error,
            },
          ),
        ),
      );
      child.once("spawn", () => resolvePid(child.pid!));
    });
    child.unref();
    const record: ProcessRecord = { name: options.name, pid, executable: options.executable, log };
    await writeFile(join(options.pidDir, `${options.name}.json`), `${JSON.stringify(record)}\n`);
    return record;
  } finally {
    closeSync(fd);
  }
}

/** True while `pid` is alive and still runs `executable` (not a reused pid). */
export async function isRunning(record: Pick<ProcessRecord, "pid" | "executable">): Promise<boolean> {
  try {
    const cmdline = await readFile(`/proc/${record.pid}/cmdline`, "utf8");
    const stat = await readFile(`/proc/${record.pid}/stat`, "utf8");
    // A zombie has exited; it only waits for its parent to reap it.
    if (/\) Z /.test(stat)) return false;
    return cmdline.split("\0").includes(record.executable);
  } catch {
    return false;
  }
}

export async function readRecords(pidDir: string): Promise<ProcessRecord[]> {
  let names: string[];
  try {
    names = await readdir(pidDir);
  } catch {
    return [];
  }
  const records: ProcessRecord[] = [];
  for (const name of names.filter((file) => file.endsWith(".json"))) {
    try {
      records.push(JSON.parse(await readFile(join(pidDir, name), "utf8")) as ProcessRecord);
    } catch {
      // A torn pid file names nothing we could safely signal.
    }
  }
  return records;
}

/** SIGTERM, then SIGKILL after `graceMs`; removes the pid file. */
export async function stopProcess(record: ProcessRecord, pidDir: string, graceMs = 10_000): Promise<boolean> {
  let stopped = false;
  if (await isRunning(record)) {
    try {
      process.kill(record.pid, "SIGTERM");
    } catch {
      // Already gone.
    }
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && (await isRunning(record))) await sleep(100);
    if (await isRunning(record)) {
      try {
        process.kill(record.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
      while (await isRunning(record)) await sleep(50);
    }
    stopped = true;
  }
  await rm(join(pidDir, `${record.name}.json`), { force: true });
  return stopped;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** Poll `check` until it returns true; on timeout, fail naming what and pointing at the log. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  options: { timeoutMs: number; intervalMs?: number; log?: string; alive?: () => Promise<boolean> },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  const hint = options.log ? ` (see ${options.log})` : "";
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    if (options.alive && !(await options.alive())) {
      throw new DeputyError("TESTENV_FAILED", `${what}: the process exited${hint}`);
    }
    await sleep(options.intervalMs ?? 200);
  }
  throw new DeputyError(
    "TESTENV_FAILED",
    `${what}: not ready after ${Math.round(options.timeoutMs / 1000)} s${hint}`,
  );
}
