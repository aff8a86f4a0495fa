import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, connect, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { binaryDirs } from "../../devenv/binaries.ts";

/**
 * The real parts a fault test can break and mend: its own Redis (never the
 * shared one), a TCP proxy that can freeze the API server's traffic, and a
 * second Vault dev server that answers but was never configured, like a
 * restarted dev server.
 */

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function canListen(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

async function waitForPort(port: number, up: boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: "127.0.0.1", port });
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open === up) return;
    if (Date.now() > deadline) throw new Error(`port ${port} did not ${up ? "open" : "close"} in time`);
    await sleep(50);
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

export interface OwnRedis {
  url: string;
  port: number;
  /** Stop the server the way an outage does; its data is saved first, as a persistent Redis keeps it. */
  stop(): Promise<void>;
  /** Start it again on the same port with the same data. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** A redis-server of the test's own on a free port, without automatic snapshots. */
export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), "deputy-faults-redis-"));
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
      { stdio: "ignore" },
    );
    await waitForPort(port, true);
  };
  const stop = async (): Promise<void> => {
    const running = child;
    if (!running) return;
    child = undefined;
    // SHUTDOWN SAVE writes dump.rdb even with no save points; the restart loads it.
    await new Promise<void>((resolve) => {
      const socket = connect({ host: "127.0.0.1", port }, () => socket.write("SHUTDOWN SAVE\r\n"));
      socket.on("error", () => resolve());
      socket.on("close", () => resolve());
    });
    await exited(running);
    await waitForPort(port, false);
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    start,
    async close() {
      const running = child;
      child = undefined;
      if (running) {
        running.kill("SIGKILL");
        await exited(running);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface BareVault {
  addr: string;
  rootToken: string;
  close(): Promise<void>;
}

/**
 * A second Vault dev server (the test environment's binary, OpenBao's API)
 * with nothing configured: no Kubernetes auth method, no secrets engine, as a
 * dev server is after a restart.
 */
export async function startBareVault(): Promise<BareVault> {
  // Vault also listens on port + 1 (its cluster port): both must be free.
  let port = await freePort();
  while (!(await canListen(port + 1))) port = await freePort();
  const rootToken = `root-${randomBytes(8).toString("hex")}`;
  // Its own HOME: the dev server writes ~/.vault-token.
  const home = await mkdtemp(join(tmpdir(), "deputy-faults-vault-"));
  const child = spawn(
    join(binaryDirs().vault, "vault"),
    ["server", "-dev", `-dev-listen-address=127.0.0.1:${port}`, `-dev-root-token-id=${rootToken}`],
    { stdio: "ignore", env: { PATH: process.env.PATH ?? "", HOME: home } },
  );
  const addr = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const healthy = await fetch(`${addr}/v1/sys/health`)
      .then((response) => response.ok)
      .catch(() => false);
    if (healthy) break;
    if (child.exitCode !== null) throw new Error(`vault server -dev exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error("vault server -dev did not become healthy in 30 s");
    await sleep(100);
  }
  return {
    addr,
    rootToken,
    async close() {
      child.kill("SIGTERM");
      await exited(child);
      await rm(home, { recursive: true, force: true });
    },
  };
}

/** A pino destination that keeps parsed log lines, to assert what was logged and how often. */
export function logCapture(): { destination: Writable; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (!line.trim()) continue;
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not JSON: ignore
        }
      }
      callback();
    },
  });
  return { destination, lines };
}

export async function eventually<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
