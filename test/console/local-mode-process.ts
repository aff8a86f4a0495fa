import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { loadTestEnv } from "../helpers/testenv.ts";

/**
 * `deputy start` (or `npm start`) as a user runs it: a child process whose
 * terminal output we read until it prints the console URL, stopped with
 * SIGINT to its process group, as Ctrl-C in a terminal would.
 */

export interface RunningLocalMode {
  url: string;
  child: ChildProcess;
  output(): string;
  /** Ctrl-C (or `signal`, e.g. a service manager's SIGTERM); resolves with the exit code and everything printed. */
  stop(
    timeoutMs?: number,
    signal?: NodeJS.Signals,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>;
}

/**
 * The seeded copy of `shop` the browser test restarts and evicts in, so that
 * files reading `shop` meanwhile see it unchanged. Every local-mode process
 * in the tests lists it as writable: local mode configures OpenBao's shared
 * `kubernetes` mounts at start, and two lists would overwrite each other.
 */
export const CONSOLE_WRITE_NAMESPACE = "deputy-w-console";

/** Environment that points local mode at the running test environment, isolated from other tests. */
export function localModeEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = loadTestEnv();
  const id = randomBytes(4).toString("hex");
  // Nothing of the caller's Deputy, Slack or model settings leaks into the run.
  const clean: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^(ANTHROPIC_|SLACK_|DEPUTY_|VITEST)/.test(key)),
  );
  return {
    ...clean,
    KUBECONFIG: env.kubeconfig,
    BAO_ADDR: env.baoAddr,
    BAO_TOKEN: env.baoRootToken,
    REDIS_URL: env.redisUrl,
    DEPUTY_CONSOLE_PORT: "0",
    DEPUTY_MCP_PORT: "0",
    DEPUTY_REDIS_PREFIX: `deputy-console-test-${id}:`,
    DEPUTY_WRITABLE_NAMESPACES: `shop,${CONSOLE_WRITE_NAMESPACE}`,
    LOG_LEVEL: "debug",
    ...extra,
  };
}

export function startLocalModeProcess(options: {
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutMs?: number;
}): Promise<RunningLocalMode> {
  const child = spawn(options.command, options.args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  // "close", not "exit": a process can exit before its last lines ("Stopped.") are read from the pipes.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("close", (code, signal) => resolve({ code, signal })),
  );

  const stop: RunningLocalMode["stop"] = async (timeoutMs = 30_000, signal = "SIGINT") => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // already gone
      }
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    }, timeoutMs);
    const result = await exited;
    clearTimeout(timer);
    return { ...result, output };
  };

  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => {
      void stop(5000).then(() =>
        reject(
          new Error(
            `local mode printed no complete banner within ${options.timeoutMs ?? 180_000} ms:\n${output}`,
          ),
        ),
      );
    }, options.timeoutMs ?? 180_000);
    const onData = (): void => {
      // Ready once the whole banner is out: its lines are separate writes and may arrive in
      // separate chunks, so the console URL alone does not mean the MCP server line is there yet.
      if (!output.includes("Press Ctrl-C to stop.")) return;
      const match = /Deputy console: (http:\/\/\S+)/.exec(output);
      if (!match) return;
      clearTimeout(deadline);
      child.stdout!.off("data", onData);
      resolve({ url: match[1]!, child, output: () => output, stop });
    };
    child.stdout!.on("data", onData);
    void exited.then(({ code, signal }) => {
      clearTimeout(deadline);
      reject(new Error(`local mode exited (code ${code}, signal ${signal}) before it was ready:\n${output}`));
    });
  });
}
