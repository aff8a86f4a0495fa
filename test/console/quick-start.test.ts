import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { localModeEnv, startLocalModeProcess, type RunningLocalMode } from "./local-mode-process.ts";

/**
 * README's quick start is what a new user runs: clone the repository, run the
 * "run Deputy locally" line, get a console URL that serves the console. The
 * clone reuses this checkout's node_modules through a symlink (in place of
 * `npm ci`, which would only reinstall the same lockfile), and KUBECONFIG,
 * BAO_ADDR and BAO_TOKEN point at the already-running test environment so the
 * clone does not build a second control plane.
 */

const REPO = resolve(import.meta.dirname, "..", "..");

/** The commands on README's "run Deputy locally" line. */
export function quickStartCommands(readme: string): string[] {
  const section = /^## Quick start\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1];
  if (!section) throw new Error('README.md has no "## Quick start" section');
  const block = /```(?:sh|bash|shell)\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error("README's quick start has no shell block");
  const line = block.split("\n").find((candidate) => /#.*run Deputy locally/i.test(candidate));
  if (!line) throw new Error('README\'s quick start has no line commented "run Deputy locally"');
  return line
    .replace(/#.*$/, "")
    .split("&&")
    .map((command) => command.trim())
    .filter((command) => command.length > 0);
}

let clone: string | undefined;
let running: RunningLocalMode | undefined;

describe("README quick start on a fresh clone", () => {
  afterAll(async () => {
    if (running && running.child.exitCode === null) await running.stop();
    if (clone) rmSync(clone, { recursive: true, force: true });
  });

  it("parses the quick-start line the way it is written", () => {
    expect(
      quickStartCommands(
        "## Quick start\n\n```sh\nnpm ci && npm start   # run Deputy locally\nnpm test # tests\n```\n\n## Next\n",
      ),
    ).toEqual(["npm ci", "npm start"]);
    expect(() => quickStartCommands("# Deputy\n")).toThrow(/Quick start/);
  });

  it("starts the console with `npm start` in a clone", async () => {
    const commands = quickStartCommands(readFileSync(join(REPO, "README.md"), "utf8"));
    expect(commands.at(-1)).toBe("npm start");
    expect(commands.slice(0, -1).every((command) => /^npm (ci|install)\b/.test(command))).toBe(true);

    clone = mkdtempSync(join(tmpdir(), "deputy-clone-"));
    const checkout = join(clone, "deputy");
    execFileSync("git", ["clone", "--quiet", REPO, checkout], { stdio: "pipe" });
    symlinkSync(join(REPO, "node_modules"), join(checkout, "node_modules"), "dir");

    const started = Date.now();
    running = await startLocalModeProcess({
      command: "npm",
      args: ["start"],
      cwd: checkout,
      env: localModeEnv({
        DEPUTY_AUDIT_FILE: join(clone, "audit.jsonl"),
        DEPUTY_LOG_FILE: join(clone, "deputy.log"),
      }),
      timeoutMs: 120_000,
    });
    const readyMs = Date.now() - started;
    process.stderr.write(`quick start: console ready in ${readyMs} ms\n`);

    const page = await fetch(running.url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<title>Deputy · local console</title>");
    const status = (await (await fetch(new URL("/api/status", running.url))).json()) as {
      users: { id: string }[];
      model: { enabled: boolean };
    };
    expect(status.users.map((user) => user.id)).toEqual(["alice", "bob"]);
    expect(status.model.enabled).toBe(false);

    const stopped = await running.stop();
    expect(stopped.output).toContain("Stopped.");
  }, 180_000);
});
