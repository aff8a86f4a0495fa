import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { loadTestEnv } from "../../helpers/testenv.ts";
import { JIT_NAMESPACE, WRITABLE, type WriteEnv } from "../../executor/write-env.ts";

/**
 * `deputy executor` (and the other `deputy` commands that read its settings)
 * as its own process against the test environment, configured the way the
 * operator's guide says: the API server's address from a kubeconfig, OpenBao's
 * Kubernetes auth and secrets engine, the test's own Redis prefix.
 */
const ROOT = join(import.meta.dirname, "../../..");
const NODE = join(ROOT, "node_modules/.bin/node");
const CLI = join(ROOT, "cli/deputy.ts");

/** The environment of an executor process deciding the actions stored under `prefix`, plus `extra`. */
export function executorProcessEnv(
  env: WriteEnv,
  prefix: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  const test = loadTestEnv();
  return {
    PATH: process.env.PATH ?? "",
    KUBECONFIG: test.kubeconfig,
    REDIS_URL: test.redisUrl,
    DEPUTY_REDIS_PREFIX: prefix,
    // The cluster the proposals were made for (the test harness's): an executor runs its own cluster's only.
    DEPUTY_CLUSTER_NAME: "testenv",
    BAO_ADDR: test.baoAddr,
    DEPUTY_BAO_AUTH_MOUNT: env.authMount,
    DEPUTY_BAO_AUTH_ROLE: env.authRole,
    DEPUTY_BAO_SECRETS_MOUNT: env.secretsMount,
    DEPUTY_BAO_JWT_PATH: env.jwtPath,
    DEPUTY_WRITABLE_NAMESPACES: WRITABLE.join(","),
    DEPUTY_JIT_NAMESPACE: JIT_NAMESPACE,
    DEPUTY_METRICS_PORT: "0",
    ...extra,
  };
}

/** A `deputy` command run to its end: its exit code and everything it printed (stdout, then stderr as it came). */
export function runDeputy(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; out: string }> {
  const child = spawn(NODE, [CLI, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  // "close", not "exit": the process can exit before its last lines are read from the pipe.
  return new Promise((resolve) => child.once("close", (code) => resolve({ code, out })));
}

export interface ExecutorProcess {
  child: ChildProcess;
  /** Where it takes decisions (without the /v1/decisions path) and serves metrics. */
  url: string;
  metricsUrl: string;
  /** Everything it printed so far. */
  output(): string;
}

/** `deputy executor --port 0` started and listening, or the reason it did not start within 30 s. */
export async function startExecutorProcess(env: Record<string, string>): Promise<ExecutorProcess> {
  const child = spawn(NODE, [CLI, "executor", "--port", "0"], { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const { url, metricsUrl } = await new Promise<{ url: string; metricsUrl: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`deputy executor did not start: ${output}`)), 30_000);
    child.stderr!.on("data", () => {
      // Up to the line's end: a URL cut at a chunk boundary would otherwise match.
      const match = /decisions at (\S+)\/v1\/decisions; metrics at (\S+)\n/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ url: match[1]!, metricsUrl: match[2]! });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`deputy executor exited ${code}: ${output}`));
    });
  });
  return { child, url, metricsUrl, output: () => output };
}
