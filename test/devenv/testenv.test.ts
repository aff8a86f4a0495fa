import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadTestEnv } from "../helpers/testenv.ts";
import { isRunning, readRecords, startDetached, stopProcess } from "../../devenv/processes.ts";
import { testEnvLayout } from "../../devenv/layout.ts";
import { testEnvStatus, upTestEnv } from "../../devenv/testenv.ts";

describe("test environment lifecycle", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "deputy-procs-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reuses a running healthy environment instead of starting another", async () => {
    const before = loadTestEnv();
    const state = await upTestEnv({ restart: false });
    expect(state.server).toBe(before.server);
    expect(state.baoAddr).toBe(before.baoAddr);
    const status = await testEnvStatus();
    expect(status.healthy).toBe(true);
    expect(status.processes.map((p) => p.name).sort()).toEqual(
      expect.arrayContaining(["etcd", "fake-kubelet", "kube-apiserver", "kube-controller-manager", "vault"]),
    );
  });

  it("never starts or restarts an environment from inside a test run, and says why", async () => {
    // An empty layout is an unhealthy environment: outside tests `up` would start one here.
    const layout = testEnvLayout(join(dir, "unhealthy"));
    await expect(upTestEnv({ layout })).rejects.toThrow(
      `the test environment at ${layout.root} is not healthy, and it is not restarted while tests may be using it`,
    );
    expect((await testEnvStatus(layout)).processes).toEqual([]);
  });

  it("waits for the lock while its holder lives, saying so, and goes on when the holder dies", async () => {
    const layout = testEnvLayout(join(dir, "locked"));
    await mkdir(layout.root, { recursive: true });
    const holder = spawn("sleep", ["30"], { stdio: "ignore" });
    await writeFile(layout.lock, String(holder.pid));
    const lines: string[] = [];
    const waiting = upTestEnv({ layout, progress: (line) => lines.push(line) }).catch(
      (error: Error) => error,
    );
    // Polled, not read after a fixed pause: on a loaded machine it may find the lock later.
    await expect
      .poll(() => lines, { timeout: 30_000 })
      .toEqual([
        `waiting for another testenv up/down (pid ${holder.pid}) to finish: 0 min so far; a first build of the binaries can take 15–30 min, so this waits up to 90 min`,
      ]);
    holder.kill("SIGKILL");
    const outcome = await waiting;
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error).message).toMatch(
      /is not healthy, and it is not restarted while tests may be using it/,
    );
  });

  it("stops exactly the recorded process, and never a reused pid running something else", async () => {
    const dirs = { pidDir: join(dir, "pids"), logDir: join(dir, "logs") };
    const ours = await startDetached({ name: "sleeper", executable: "/bin/sleep", args: ["60"], ...dirs });
    expect(await isRunning(ours)).toBe(true);
    expect((await readRecords(dirs.pidDir)).map((r) => r.name)).toEqual(["sleeper"]);

    // A process we did not start, recorded under a pid whose executable differs.
    const stranger = spawn("tail", ["-f", "/dev/null"], { stdio: "ignore" });
    try {
      const impostor = { name: "impostor", pid: stranger.pid!, executable: "/bin/sleep", log: "" };
      expect(await isRunning(impostor)).toBe(false);
      expect(await stopProcess(impostor, dirs.pidDir, 1000)).toBe(false);
      expect(stranger.exitCode).toBeNull();
      expect(stranger.signalCode).toBeNull();

      expect(await stopProcess(ours, dirs.pidDir, 5000)).toBe(true);
      expect(await isRunning(ours)).toBe(false);
      expect(await readRecords(dirs.pidDir)).toEqual([]);
    } finally {
      stranger.kill("SIGKILL");
    }
  });
});
