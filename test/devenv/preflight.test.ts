import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { binaryDirs } from "../../devenv/binaries.ts";
import { minimumGoVersion, preflightProblems } from "../../devenv/preflight-checks.ts";
import { REPO_ROOT } from "../../devenv/layout.ts";
import { redisInstallCommands } from "../../devenv/redis.ts";

const NODE = join(REPO_ROOT, "node_modules", ".bin", "node");

describe("preflight", () => {
  let dir: string;
  /** A PATH with a shell and nothing else: a fresh machine without Go or openssl. */
  let barePath: string;
  /** An empty binary cache: the first run must build. */
  let emptyCache: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "deputy-preflight-"));
    barePath = join(dir, "bin");
    emptyCache = join(dir, "cache");
    await mkdir(barePath);
    await mkdir(emptyCache);
    await symlink("/bin/sh", join(barePath, "sh"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("finds nothing missing on a machine that has run the suite", async () => {
    expect(await preflightProblems()).toEqual([]);
  });

  it("knows the oldest Go the pinned modules build with", async () => {
    expect(await minimumGoVersion()).toBe("1.25.3");
    // helm, built only for the chart tests, needs a newer one; the control plane does not.
    expect(await minimumGoVersion(["helm"])).toBe("1.26.0");
  });

  it("names each missing piece of a fresh machine in one sentence with its fix", async () => {
    const problems = await preflightProblems({
      env: { PATH: barePath, XDG_CACHE_HOME: emptyCache, HOME: dir },
      nodeVersion: "20.19.0",
      freeBytes: { build: Number.MAX_SAFE_INTEGER, run: 1 },
    });
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(
      /^Node 20\.19\.0 is running, but Deputy needs Node >= 24; run the tests through npm/,
    );
    expect(problems[1]).toMatch(
      /^Go is not on PATH, and the first run builds the pinned control plane and helm with it: install Go 1\.26\.0 or newer from https:\/\/go\.dev\/dl\/ .*DEPUTY_TESTENV_BIN_DIR/,
    );
    expect(problems[2]).toBe(
      'openssl is not on PATH, and the test environment makes its certificates with it: run "sudo apt-get update && sudo apt-get install -y openssl".',
    );
    expect(problems[3]).toMatch(
      /^[\d.]+ GiB is free where the binaries are cached \(.*\), and building them needs \d+ GiB: free some space/,
    );
    for (const problem of problems) expect(problem.split(/\.\s/).length, problem).toBeLessThanOrEqual(2);
  });

  it("refuses a Go older than the pinned modules need, and asks for no Go when nothing must be built", async () => {
    const fakeGo = join(barePath, "go");
    await writeFile(fakeGo, "#!/bin/sh\necho 'go version go1.22.1 linux/amd64'\n");
    await chmod(fakeGo, 0o755);
    const fresh = await preflightProblems({
      env: { PATH: `${barePath}:/usr/bin:/bin`, XDG_CACHE_HOME: emptyCache },
    });
    expect(fresh.filter((p) => p.startsWith("Go "))).toEqual([
      expect.stringMatching(
        /^Go 1\.22\.1 is on PATH, but the pinned modules need Go 1\.26\.0 or newer: install Go/,
      ),
    ]);
    // The control plane cached but not helm: Go is needed, at helm's version.
    const withoutHelm = join(dir, "cache-without-helm");
    const cachedDirs = binaryDirs();
    const mirrorDirs = binaryDirs({ XDG_CACHE_HOME: withoutHelm });
    for (const [key, names] of [
      ["kube", ["kube-apiserver", "kube-controller-manager"]],
      ["etcd", ["etcd"]],
      ["vault", ["vault"]],
    ] as const) {
      await mkdir(mirrorDirs[key], { recursive: true });
      for (const name of names) await symlink(join(cachedDirs[key], name), join(mirrorDirs[key], name));
    }
    const helmOnly = await preflightProblems({
      env: { PATH: `${barePath}:/usr/bin:/bin`, XDG_CACHE_HOME: withoutHelm },
    });
    expect(helmOnly.filter((p) => p.startsWith("Go "))).toEqual([
      expect.stringMatching(/^Go 1\.22\.1 is on PATH, but the pinned modules need Go 1\.26\.0 or newer/),
    ]);
    // Same old Go, but the binaries are already cached: Go is not needed at all.
    const cached = await preflightProblems({ env: { ...process.env, PATH: `${barePath}:/usr/bin:/bin` } });
    expect(cached).toEqual([]);
    await rm(fakeGo);
  });

  it("fails npm test's first step with those sentences and exit code 1", async () => {
    const outcome = await promisify(execFile)(NODE, [join(REPO_ROOT, "devenv/preflight.ts")], {
      env: { PATH: barePath, XDG_CACHE_HOME: emptyCache, HOME: dir },
    }).then(
      () => ({ code: 0, stderr: "" }),
      (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
    );
    expect(outcome.code).toBe(1);
    const lines = outcome.stderr.trim().split("\n");
    expect(lines.every((line) => line.startsWith("preflight: "))).toBe(true);
    expect(lines.some((line) => line.startsWith("preflight: Go is not on PATH"))).toBe(true);
    expect(lines.some((line) => line.startsWith("preflight: openssl is not on PATH"))).toBe(true);
  });

  it("installs redis-server only after refreshing the package lists", () => {
    expect(redisInstallCommands(true)).toEqual([
      ["apt-get", "update"],
      ["apt-get", "install", "-y", "--no-install-recommends", "redis-server"],
    ]);
    expect(redisInstallCommands(false).map((command) => command.slice(0, 3))).toEqual([
      ["sudo", "-n", "apt-get"],
      ["sudo", "-n", "apt-get"],
    ]);
  });
});
