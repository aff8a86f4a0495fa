import { execFile } from "node:child_process";
import { readFile, stat, statfs } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { BIN_DIR_VARIABLE, binaryDirs, controlPlaneModules } from "./binaries.ts";
import { GO_MODULES_DIR, cacheRoot } from "./layout.ts";
import { findRedisServer, redisAnswers } from "./redis.ts";

const execFileAsync = promisify(execFile);

/** Node major version the project runs on (package.json engines). */
export const REQUIRED_NODE_MAJOR = 24;

/** A cold build fills Go's module cache (~4.5 GB), its build cache (~6.5 GB) and the binaries (~0.7 GB). */
export const BUILD_FREE_BYTES = 15 * 1024 ** 3;
/** With binaries cached, the environment needs room only for etcd data and logs. */
export const RUN_FREE_BYTES = 1024 ** 3;

export interface PreflightOptions {
  env?: NodeJS.ProcessEnv;
  nodeVersion?: string;
  /** Free space demanded, for tests of the check itself. */
  freeBytes?: { build: number; run: number };
}

/** "1.25.3" → [1, 25, 3]; anything unparsable sorts lowest. */
function versionParts(version: string): number[] {
  return version
    .replace(/^go/, "")
    .split(".")
    .map((part) => Number.parseInt(part, 10) || 0);
}

function older(a: string, b: string): boolean {
  const [x, y] = [versionParts(a), versionParts(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) < (y[i] ?? 0);
  }
  return false;
}

/**
 * The newest `go` directive among the wrapper modules `testenv up` builds: the
 * oldest Go that builds them all (helm, built only by the chart tests, says
 * for itself when the Go on PATH is too old for it).
 */
export async function minimumGoVersion(modules: readonly string[] = controlPlaneModules()): Promise<string> {
  let newest = "0";
  for (const module of modules) {
    const text = await readFile(join(GO_MODULES_DIR, module, "go.mod"), "utf8").catch(() => "");
    const directive = /^go (\d+\.\d+(?:\.\d+)?)\s*$/m.exec(text)?.[1];
    if (directive && older(newest, directive)) newest = directive;
  }
  return newest;
}

async function commandOutput(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<string | undefined> {
  try {
    const { stdout } = await execFileAsync(command, args, { env, timeout: 20_000 });
    return stdout.trim();
  } catch {
    return undefined;
  }
}

async function binariesCached(env: NodeJS.ProcessEnv): Promise<boolean> {
  const dirs = binaryDirs(env);
  return filesPresent([
    join(dirs.kube, "kube-apiserver"),
    join(dirs.kube, "kube-controller-manager"),
    join(dirs.etcd, "etcd"),
    join(dirs.vault, "vault"),
  ]);
}

async function filesPresent(files: string[]): Promise<boolean> {
  const present = await Promise.all(
    files.map((file) =>
      stat(file).then(
        (s) => s.isFile(),
        () => false,
      ),
    ),
  );
  return present.every(Boolean);
}

async function freeBytesNear(path: string): Promise<number> {
  // The cache directory may not exist yet: measure the nearest existing parent.
  for (let dir = path; ; dir = join(dir, "..")) {
    try {
      const info = await statfs(dir);
      return info.bavail * info.bsize;
    } catch {
      if (dir === "/") return Number.POSITIVE_INFINITY;
    }
  }
}

const GIB = 1024 ** 3;

/**
 * Everything the first `npm test` needs that npm does not install, checked
 * before anything starts. Each problem is one sentence saying what is
 * missing and the command that fixes it; an empty list means go ahead.
 */
export async function preflightProblems(options: PreflightOptions = {}): Promise<string[]> {
  const env = options.env ?? process.env;
  const nodeVersion = options.nodeVersion ?? process.versions.node;
  const freeBytes = options.freeBytes ?? { build: BUILD_FREE_BYTES, run: RUN_FREE_BYTES };
  const problems: string[] = [];

  const major = Number.parseInt(nodeVersion.split(".")[0] ?? "0", 10);
  if (major < REQUIRED_NODE_MAJOR) {
    problems.push(
      `Node ${nodeVersion} is running, but Deputy needs Node >= ${REQUIRED_NODE_MAJOR}; ` +
        'run the tests through npm ("npm test"), which uses the project\'s own Node from node_modules/.bin.',
    );
  }

  const buildsControlPlane = !env[BIN_DIR_VARIABLE] && !(await binariesCached(env));
  // The chart tests build helm on first use, and its module needs a newer Go than the control plane's.
  const buildsHelm = !env[BIN_DIR_VARIABLE] && !(await filesPresent([join(binaryDirs(env).helm, "helm")]));
  if (buildsControlPlane || buildsHelm) {
    const needed = await minimumGoVersion([
      ...(buildsControlPlane ? controlPlaneModules() : []),
      ...(buildsHelm ? ["helm"] : []),
    ]);
    const built = buildsControlPlane
      ? `the pinned control plane${buildsHelm ? " and helm" : ""}`
      : "helm (for the chart tests)";
    const found = /go(\d+\.\d+(?:\.\d+)?)/.exec((await commandOutput("go", ["version"], env)) ?? "")?.[1];
    const install =
      `install Go ${needed} or newer from https://go.dev/dl/ ` +
      `(for example "curl -sSL https://go.dev/dl/go${needed}.linux-amd64.tar.gz | sudo tar -C /usr/local -xz" ` +
      "and add /usr/local/go/bin to PATH), or set " +
      `${BIN_DIR_VARIABLE} to a directory holding the pinned binaries`;
    if (!found) {
      problems.push(`Go is not on PATH, and the first run builds ${built} with it: ${install}.`);
    } else if (older(found, needed)) {
      problems.push(`Go ${found} is on PATH, but the pinned modules need Go ${needed} or newer: ${install}.`);
    }
  }

  if (!(await commandOutput("openssl", ["version"], env))) {
    problems.push(
      'openssl is not on PATH, and the test environment makes its certificates with it: run "sudo apt-get update && sudo apt-get install -y openssl".',
    );
  }

  if (!(await redisAnswers()) && !(await findRedisServer())) {
    const aptGet = await commandOutput("sh", ["-c", "command -v apt-get"], env);
    if (!aptGet) {
      problems.push(
        "Redis does not answer on 127.0.0.1:6379, redis-server is not installed and there is no apt-get to install it: " +
          "install Redis with your package manager and start it on 127.0.0.1:6379.",
      );
    }
  }

  const cache = cacheRoot(env);
  const free = await freeBytesNear(cache);
  const want = buildsControlPlane ? freeBytes.build : freeBytes.run;
  if (free < want) {
    problems.push(
      `${(free / GIB).toFixed(1)} GiB is free where the binaries are cached (${cache}), and ` +
        `${buildsControlPlane ? "building them" : "running the environment"} needs ${(want / GIB).toFixed(0)} GiB: ` +
        'free some space (for example "go clean -cache") or point XDG_CACHE_HOME at a larger disk.',
    );
  }
  return problems;
}
