import { spawn } from "node:child_process";
import { copyFile, chmod, mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { DeputyError } from "../../core/errors.ts";
import { GO_MODULES_DIR, VERSIONS, cacheRoot } from "./layout.ts";

/**
 * The real control-plane binaries, built from Go modules pinned in
 * test/env/go/* and cached outside the repo by version. Only the first run on
 * a machine pays the build; later runs just check the files exist.
 */
export interface Binaries {
  kubeApiserver: string;
  kubeControllerManager: string;
  etcd: string;
  vault: string;
}

type Progress = (line: string) => void;

/** A build that was already done elsewhere on this machine and can be copied instead of rebuilt. */
const PREBUILT_DIR = "/tmp/kbin";

interface BuildSpec {
  version: string;
  module: string;
  dir: string;
  /** Binary name → Go package that builds it. */
  outputs: Record<string, string>;
  estimate: string;
}

export function binaryDirs(env: NodeJS.ProcessEnv = process.env): {
  kube: string;
  etcd: string;
  vault: string;
} {
  const root = cacheRoot(env);
  return {
    kube: join(root, `kube-${VERSIONS.kube}`),
    etcd: join(root, `etcd-${VERSIONS.etcd}`),
    vault: join(root, `vault-${VERSIONS.vault}`),
  };
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    const info = await stat(path);
    return info.isFile() && (info.mode & 0o111) !== 0 && info.size > 0;
  } catch {
    return false;
  }
}

function goEnv(): NodeJS.ProcessEnv {
  const flags = [process.env.GOFLAGS ?? "", "-mod=mod"].join(" ").trim();
  return { ...process.env, GOFLAGS: flags, GOTOOLCHAIN: "local" };
}

function runGo(args: string[], cwd: string, progress: Progress): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn("go", args, { cwd, env: goEnv(), stdio: ["ignore", "pipe", "pipe"] });
    let tail = "";
    const collect = (chunk: Buffer): void => {
      tail = (tail + chunk.toString("utf8")).slice(-4000);
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    const started = Date.now();
    const ticker = setInterval(
      () => progress(`  … still building (${Math.round((Date.now() - started) / 60_000)} min)`),
      60_000,
    );
    child.on("error", (error) => {
      clearInterval(ticker);
      reject(
        new DeputyError(
          "TESTENV_FAILED",
          `cannot run "go" (is Go installed and on PATH?): ${error.message}`,
          {
            cause: error,
          },
        ),
      );
    });
    child.on("close", (code) => {
      clearInterval(ticker);
      if (code === 0) resolvePromise();
      else
        reject(
          new DeputyError("TESTENV_FAILED", `go ${args.join(" ")} failed in ${cwd} (exit ${code}):\n${tail}`),
        );
    });
  });
}

/** Scratch directories of builds whose process died (killed test runs) are removed. */
async function removeAbandonedBuilds(dir: string): Promise<void> {
  for (const entry of await readdir(dir)) {
    const pid = /^\.build-(\d+)$/.exec(entry)?.[1];
    if (!pid) continue;
    try {
      process.kill(Number(pid), 0);
    } catch {
      await rm(join(dir, entry), { recursive: true, force: true });
    }
  }
}

async function ensureBuilt(spec: BuildSpec, progress: Progress): Promise<void> {
  const missing: string[] = [];
  for (const output of Object.keys(spec.outputs)) {
    if (!(await isExecutable(join(spec.dir, output)))) missing.push(output);
  }
  if (missing.length === 0) return;
  await mkdir(spec.dir, { recursive: true });

  // Reuse a build already present on this machine, if any, before compiling.
  const stillMissing: string[] = [];
  for (const output of missing) {
    const prebuilt = join(PREBUILT_DIR, output);
    if (await isExecutable(prebuilt)) {
      const partial = join(spec.dir, `.${output}.partial`);
      await copyFile(prebuilt, partial);
      await chmod(partial, 0o755);
      await rename(partial, join(spec.dir, output));
      progress(`copied prebuilt ${output} from ${PREBUILT_DIR}`);
    } else {
      stillMissing.push(output);
    }
  }
  if (stillMissing.length === 0) return;

  const started = Date.now();
  progress(`building ${stillMissing.join(", ")} ${spec.version} (first run only, ${spec.estimate})…`);
  // Build into a scratch directory and rename, so an interrupted build never
  // leaves a half-written binary that a later run would trust.
  await removeAbandonedBuilds(spec.dir);
  const scratch = join(spec.dir, `.build-${process.pid}`);
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true });
  try {
    const packages = stillMissing.map((output) => spec.outputs[output]!);
    const target = packages.length > 1 ? `${scratch}/` : join(scratch, stillMissing[0]!);
    await runGo(
      ["build", "-trimpath", "-ldflags=-s -w", "-o", target, ...packages],
      join(GO_MODULES_DIR, spec.module),
      progress,
    );
    for (const output of stillMissing) {
      await rename(join(scratch, output), join(spec.dir, output));
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  progress(
    `built ${stillMissing.join(", ")} ${spec.version} in ${Math.round((Date.now() - started) / 1000)} s`,
  );
}

/** Make sure every binary exists in the cache, building what is missing. */
export async function ensureBinaries(progress: Progress = () => {}): Promise<Binaries> {
  const dirs = binaryDirs();
  const specs: BuildSpec[] = [
    {
      version: VERSIONS.kube,
      module: "kube",
      dir: dirs.kube,
      outputs: {
        "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
        "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
      },
      estimate: "several minutes",
    },
    {
      version: VERSIONS.etcd,
      module: "etcd",
      dir: dirs.etcd,
      outputs: { etcd: "." },
      estimate: "a few minutes",
    },
    {
      version: VERSIONS.vault,
      module: "vault",
      dir: dirs.vault,
      outputs: { vault: "github.com/hashicorp/vault" },
      estimate: "several minutes",
    },
  ];
  for (const spec of specs) await ensureBuilt(spec, progress);
  return {
    kubeApiserver: join(dirs.kube, "kube-apiserver"),
    kubeControllerManager: join(dirs.kube, "kube-controller-manager"),
    etcd: join(dirs.etcd, "etcd"),
    vault: join(dirs.vault, "vault"),
  };
}
