import { execFile, spawn } from "node:child_process";
import { copyFile, chmod, cp, mkdir, readFile, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
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

const execFileAsync = promisify(execFile);

/** A build that was already done elsewhere on this machine and can be copied instead of rebuilt. */
const PREBUILT_DIR = "/tmp/kbin";

interface BuildSpec {
  version: string;
  module: string;
  dir: string;
  /** Binary name → Go package that builds it. */
  outputs: Record<string, string>;
  estimate: string;
  /** Source edits to a dependency module, built from a patched copy (see VAULT_SOURCE_PATCHES). */
  patch?: { module: string; version: string; edits: readonly SourceEdit[] };
}

interface SourceEdit {
  file: string;
  from: string;
  to: string;
}

/**
 * Vault v1.21.4 is developed against its in-repo ./sdk, which the release
 * does not pin: the only sdk tag the Go proxy serves near it (v0.21.0) has
 * moved on in two signatures. Three one-line adaptations make the release
 * compile against sdk v0.21.0; nothing Deputy uses (Kubernetes auth, the
 * Kubernetes secrets engine, ACL policies, leases, KV) is touched.
 */
const VAULT_SOURCE_PATCHES: readonly SourceEdit[] = [
  {
    file: "vault/identity_store.go",
    from: "ActivationFunc: iStore.activateDeduplication,",
    to: "ActivationFunc: func(ctx context.Context, req *logical.Request, _ string) error { return iStore.activateDeduplication(ctx, req) },",
  },
  {
    file: "vault/logical_system_activation_flags.go",
    from: "b.idStoreBackend.ActivationFunc(ctx, nil)",
    to: 'b.idStoreBackend.ActivationFunc(ctx, nil, "")',
  },
  {
    file: "builtin/logical/transit/path_restore.go",
    from: "restoredKeyName, err := b.lm.RestorePolicy(ctx, req.Storage, keyName, backupB64, force)",
    to: "restoredKeyName, err := keyName, b.lm.RestorePolicy(ctx, req.Storage, keyName, backupB64, force)",
  },
];

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

function runGo(args: string[], cwd: string, progress: Progress): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn("go", args, { cwd, env: goEnv(), stdio: ["ignore", "pipe", "pipe"] });
    let tail = "";
    let stdout = "";
    const collect = (chunk: Buffer): void => {
      tail = (tail + chunk.toString("utf8")).slice(-4000);
    };
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
      collect(chunk);
    });
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
      if (code === 0) resolvePromise(stdout);
      else
        reject(
          new DeputyError("TESTENV_FAILED", `go ${args.join(" ")} failed in ${cwd} (exit ${code}):\n${tail}`),
        );
    });
  });
}

/**
 * Copy the dependency's source out of the module cache, apply the edits, and
 * return a copy of the wrapper module that builds against it (replace).
 */
async function patchedWrapper(spec: BuildSpec, scratch: string, progress: Progress): Promise<string> {
  const patch = spec.patch!;
  const wrapper = join(GO_MODULES_DIR, spec.module);
  const downloaded = await runGo(
    ["mod", "download", "-json", `${patch.module}@${patch.version}`],
    wrapper,
    progress,
  );
  const dir = (JSON.parse(downloaded) as { Dir?: string }).Dir;
  if (!dir)
    throw new DeputyError(
      "TESTENV_FAILED",
      `go mod download ${patch.module}@${patch.version} gave no directory`,
    );
  const source = join(scratch, "src");
  await cp(dir, source, { recursive: true });
  // The module cache is read-only; the copy must be editable and removable.
  await execFileAsync("chmod", ["-R", "u+w", source]);
  for (const edit of patch.edits) {
    const file = join(source, edit.file);
    const text = await readFile(file, "utf8");
    if (!text.includes(edit.from)) {
      throw new DeputyError(
        "TESTENV_FAILED",
        `cannot patch ${patch.module} ${edit.file}: expected text not found`,
      );
    }
    await writeFile(file, text.replace(edit.from, edit.to));
  }
  const module = join(scratch, "module");
  await mkdir(module, { recursive: true });
  for (const name of ["go.mod", "go.sum"]) await copyFile(join(wrapper, name), join(module, name));
  await runGo(["mod", "edit", `-replace=${patch.module}=${source}`], module, progress);
  return module;
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
    const moduleDir = spec.patch
      ? await patchedWrapper(spec, scratch, progress)
      : join(GO_MODULES_DIR, spec.module);
    await runGo(["build", "-trimpath", "-ldflags=-s -w", "-o", target, ...packages], moduleDir, progress);
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
      patch: { module: "github.com/hashicorp/vault", version: VERSIONS.vault, edits: VAULT_SOURCE_PATCHES },
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
