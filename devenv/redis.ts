import { execFile } from "node:child_process";
import { connect } from "node:net";
import { promisify } from "node:util";
import { DeputyError } from "../core/errors.ts";
import { startDetached, waitUntil, type ProcessRecord } from "./processes.ts";

const execFileAsync = promisify(execFile);

export const REDIS_HOST = "127.0.0.1";
export const REDIS_PORT = 6379;
export const REDIS_URL = `redis://${REDIS_HOST}:${REDIS_PORT}`;

/** True when something on 127.0.0.1:6379 answers PING with PONG. */
export function redisAnswers(timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolveAnswer) => {
    const socket = connect({ host: REDIS_HOST, port: REDIS_PORT });
    let reply = "";
    const finish = (ok: boolean): void => {
      socket.destroy();
      resolveAnswer(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.on("error", () => finish(false));
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      reply += chunk.toString("utf8");
      if (reply.includes("\r\n")) finish(reply.startsWith("+PONG"));
    });
  });
}

/**
 * The commands that install Debian's redis-server: the package lists first
 * (a fresh machine or container has none, and install alone fails), through
 * `sudo -n` when not root.
 */
export function redisInstallCommands(asRoot: boolean = process.getuid?.() === 0): string[][] {
  const sudo = asRoot ? [] : ["sudo", "-n"];
  return [
    [...sudo, "apt-get", "update"],
    [...sudo, "apt-get", "install", "-y", "--no-install-recommends", "redis-server"],
  ];
}

export async function findRedisServer(): Promise<string | undefined> {
  for (const candidate of ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]) {
    try {
      await execFileAsync(candidate, ["--version"]);
      return candidate;
    } catch {
      // try the next one
    }
  }
  try {
    const { stdout } = await execFileAsync("sh", ["-c", "command -v redis-server"]);
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Use the machine's Redis if it answers; otherwise start Debian's
 * redis-server (installing it with apt-get if needed) without persistence.
 * Returns the process record when this call started it, so `down` stops
 * only a Redis that the test environment itself started.
 */
export async function ensureRedis(
  dirs: { pidDir: string; logDir: string },
  progress: (line: string) => void,
): Promise<ProcessRecord | undefined> {
  if (await redisAnswers()) return undefined;
  let server = await findRedisServer();
  if (!server) {
    progress("redis-server not found; installing Debian's redis-server with apt-get…");
    try {
      for (const [command, ...args] of redisInstallCommands()) {
        await execFileAsync(command!, args, {
          env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
          timeout: 15 * 60_000,
        });
      }
    } catch (error) {
      throw new DeputyError(
        "TESTENV_FAILED",
        "Redis does not answer on 127.0.0.1:6379 and redis-server could not be installed with apt-get; " +
          'run "sudo apt-get update && sudo apt-get install -y redis-server", or start Redis on 127.0.0.1:6379',
        { cause: error },
      );
    }
    server = await findRedisServer();
    if (!server)
      throw new DeputyError("TESTENV_FAILED", "redis-server is still missing after apt-get install");
  }
  progress("starting redis-server on 127.0.0.1:6379…");
  const record = await startDetached({
    name: "redis",
    executable: server,
    args: [
      "--bind",
      REDIS_HOST,
      "--port",
      String(REDIS_PORT),
      "--save",
      "",
      "--appendonly",
      "no",
      "--daemonize",
      "no",
    ],
    ...dirs,
  });
  await waitUntil("redis-server", () => redisAnswers(), { timeoutMs: 10_000, log: record.log });
  return record;
}
