import { execFile, spawn } from "node:child_process";
import { copyFile, cp, mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { DeputyError } from "../core/errors.ts";
import { withFileLock } from "./file-lock.ts";
import { GO_MODULES_DIR, VERSIONS, cacheRoot } from "./layout.ts";

/**
 * The real control-plane binaries, built from Go modules pinned in
 * devenv/go/* and cached outside the repo by version. Only the first run on
 * a machine pays the build. Every run checks that each binary is the pinned
 * version (from the Go build information it embeds, or what it reports), so a
 * stray or stale executable is never trusted.
 */
export interface Binaries {
  kubeApiserver: string;
  kubeControllerManager: string;
  etcd: string;
  vault: string;
}

type Progress = (line: string) => void;

const execFileAsync = promisify(execFile);

/**
 * A directory of already-built binaries to use instead of the cache, named
 * explicitly (never guessed). They are used in place, not copied, and must be
 * the pinned versions.
 */
export const BIN_DIR_VARIABLE = "DEPUTY_TESTENV_BIN_DIR";

interface BuildSpec {
  version: string;
  /** The Go module whose version is the pin, as recorded in each binary's build information. */
  pinnedModule: string;
  module: string;
  dir: string;
  /** Binary name → Go package that builds it. */
  outputs: Record<string, string>;
  estimate: string;
  /** What builds it when it is missing, for the sentence that asks to rebuild it. */
  builtBy: string;
  /** Extra -ldflags, e.g. to stamp the version the binary reports. */
  ldflags?: string;
  /** Go build tags. */
  tags?: string;
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
 *
 * Vault is built with its own `minimal` tag: core, the dev server, KV and a
 * few base plugins, without the cloud and database plugins that make up most
 * of a full build (2,591 packages → 1,910; the binary 365 MB → 148 MB). Two
 * more edits register the two Kubernetes plugins Deputy needs in that build.
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
  // The slim build (-tags minimal) leaves out every add-on plugin, Kubernetes
  // auth and the Kubernetes secrets engine among them; put back those two.
  {
    file: "helper/builtinplugins/registry_min.go",
    from: "package builtinplugins\n",
    to: [
      "package builtinplugins",
      "",
      "import (",
      '\tcredKube "github.com/hashicorp/vault-plugin-auth-kubernetes"',
      '\tlogicalKube "github.com/hashicorp/vault-plugin-secrets-kubernetes"',
      '\t"github.com/hashicorp/vault/helper/pluginconsts"',
      ")",
      "",
    ].join("\n"),
  },
  {
    file: "helper/builtinplugins/registry_min.go",
    from: "func extendAddonPlugins(_ *registry) {\n\t// No-op\n}",
    to: [
      "func extendAddonPlugins(reg *registry) {",
      "\treg.credentialBackends[pluginconsts.AuthTypeKubernetes] = credentialBackend{Factory: credKube.Factory}",
      "\treg.logicalBackends[pluginconsts.SecretEngineKubernetes] = logicalBackend{Factory: logicalKube.Factory}",
      "}",
    ].join("\n"),
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
  helm: string;
} {
  const root = cacheRoot(env);
  return {
    kube: join(root, `kube-${VERSIONS.kube}`),
    etcd: join(root, `etcd-${VERSIONS.etcd}`),
    vault: join(root, `vault-${VERSIONS.vault}`),
    helm: join(root, `helm-${VERSIONS.helm}`),
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

const BUILD_INFO_MAGIC = Buffer.from("\xff Go buildinf:", "latin1");

/**
 * The module versions a Go binary records about itself (what `go version -m`
 * prints), read without Go: the 16-byte-aligned "\xff Go buildinf:" header
 * is followed by the Go version and the module information as
 * length-prefixed strings (Go 1.18 and later).
 */
export async function goModuleVersions(file: string): Promise<Map<string, string>> {
  const handle = await open(file, "r");
  try {
    const chunk = Buffer.alloc(4 * 1024 * 1024);
    let carry = Buffer.alloc(0);
    let base = 0;
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, base + carry.length);
      if (bytesRead === 0) return new Map();
      const window = Buffer.concat([carry, chunk.subarray(0, bytesRead)]);
      let at = window.indexOf(BUILD_INFO_MAGIC);
      while (at >= 0 && (base + at) % 16 !== 0) at = window.indexOf(BUILD_INFO_MAGIC, at + 1);
      if (at >= 0) {
        const header = Buffer.alloc(32 + 64 * 1024);
        const read = await handle.read(header, 0, header.length, base + at);
        return parseModuleInfo(header.subarray(0, read.bytesRead));
      }
      const keep = Math.min(window.length, 32);
      base += window.length - keep;
      carry = Buffer.from(window.subarray(window.length - keep));
    }
  } finally {
    await handle.close();
  }
}

function parseModuleInfo(header: Buffer): Map<string, string> {
  const versions = new Map<string, string>();
  // Flag bit 2: the strings follow the header inline (every Go since 1.18).
  if ((header[15]! & 2) === 0) return versions;
  let offset = 32;
  const readString = (): string => {
    let length = 0;
    let shift = 0;
    for (;;) {
      const byte = header[offset++] ?? 0;
      length |= (byte & 0x7f) << shift;
      if (byte < 0x80) break;
      shift += 7;
    }
    const text = header.toString("latin1", offset, offset + length);
    offset += length;
    return text;
  };
  readString(); // the Go version
  for (const line of readString().split("\n")) {
    const [kind, path, version] = line.split("\t");
    if ((kind === "mod" || kind === "dep") && path && version) versions.set(path, version);
  }
  return versions;
}

/** What `<binary> --version` (or `vault version`, `helm version --short`) prints, or "" if it cannot run. */
async function reportedVersion(file: string): Promise<string> {
  const args = file.endsWith("vault")
    ? ["version"]
    : file.endsWith("helm")
      ? ["version", "--short"]
      : ["--version"];
  try {
    const { stdout } = await execFileAsync(file, args, { timeout: 20_000 });
    return stdout.trim();
  } catch {
    return "";
  }
}

/**
 * The version a binary is, as far as it can tell: the pinned module's version
 * in its build information, else the version it reports. Undefined when it
 * is not the pin.
 */
export async function checkBinaryVersion(
  file: string,
  pin: { module: string; version: string },
): Promise<{ ok: boolean; found: string }> {
  const recorded = (await goModuleVersions(file)).get(pin.module);
  if (recorded === pin.version) return { ok: true, found: recorded };
  const reported = await reportedVersion(file);
  const bare = pin.version.replace(/^v/, "");
  // "Kubernetes v1.35.4", "etcd Version: 3.6.13", "Vault v1.21.4, built …", "v4.3.2+g…"
  if (new RegExp(`(^|[\\s:v])${bare.replaceAll(".", "\\.")}([\\s,+]|$)`, "m").test(reported)) {
    return { ok: true, found: pin.version };
  }
  return { ok: false, found: recorded ?? (reported.split("\n")[0] || "no version information") };
}

async function verify(file: string, spec: BuildSpec): Promise<void> {
  const check = await checkBinaryVersion(file, { module: spec.pinnedModule, version: spec.version });
  if (!check.ok) {
    throw new DeputyError(
      "TESTENV_FAILED",
      `${file} is ${check.found}, not the pinned ${spec.pinnedModule} ${spec.version}; ` +
        `remove it and run ${spec.builtBy} to build the pinned version`,
    );
  }
}

async function ensureBuilt(spec: BuildSpec, progress: Progress): Promise<void> {
  const missing: string[] = [];
  for (const output of Object.keys(spec.outputs)) {
    const file = join(spec.dir, output);
    if (!(await isExecutable(file))) {
      missing.push(output);
      continue;
    }
    const check = await checkBinaryVersion(file, { module: spec.pinnedModule, version: spec.version });
    if (!check.ok) {
      // A cached file that is not the pin is never used; build the pin over it.
      progress(`${file} is ${check.found}, not ${spec.version}; rebuilding it`);
      missing.push(output);
    }
  }
  if (missing.length === 0) return;
  await mkdir(spec.dir, { recursive: true });

  const started = Date.now();
  progress(`building ${missing.join(", ")} ${spec.version} (first run only, ${spec.estimate})…`);
  // Build into a scratch directory and rename, so an interrupted build never
  // leaves a half-written binary that a later run would trust.
  await removeAbandonedBuilds(spec.dir);
  const scratch = join(spec.dir, `.build-${process.pid}`);
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true });
  try {
    const packages = missing.map((output) => spec.outputs[output]!);
    const target = packages.length > 1 ? `${scratch}/` : join(scratch, missing[0]!);
    const moduleDir = spec.patch
      ? await patchedWrapper(spec, scratch, progress)
      : join(GO_MODULES_DIR, spec.module);
    const ldflags = ["-s -w", spec.ldflags].filter(Boolean).join(" ");
    await runGo(
      [
        "build",
        "-trimpath",
        ...(spec.tags ? [`-tags=${spec.tags}`] : []),
        `-ldflags=${ldflags}`,
        "-o",
        target,
        ...packages,
      ],
      moduleDir,
      progress,
    );
    for (const output of missing) {
      await verify(join(scratch, output), spec);
      await rename(join(scratch, output), join(spec.dir, output));
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  progress(`built ${missing.join(", ")} ${spec.version} in ${Math.round((Date.now() - started) / 1000)} s`);
}

const TESTENV_UP = '"npm run testenv:up"';

/** The build of each binary: where it is cached, what pins it, how to make it. */
function buildSpecs(): BuildSpec[] {
  const dirs = binaryDirs();
  const [kubeMajor, kubeMinor] = VERSIONS.kube.replace(/^v/, "").split(".");
  const kubeVersionPackage = "k8s.io/component-base/version";
  return [
    {
      version: VERSIONS.kube,
      pinnedModule: "k8s.io/kubernetes",
      module: "kube",
      dir: dirs.kube,
      outputs: {
        "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
        "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
      },
      // A plain "go build" reports v0.0.0-master from /version; stamp the pin as a release build does.
      ldflags: [
        `-X ${kubeVersionPackage}.gitVersion=${VERSIONS.kube}`,
        `-X ${kubeVersionPackage}.gitMajor=${kubeMajor}`,
        `-X ${kubeVersionPackage}.gitMinor=${kubeMinor}`,
        `-X ${kubeVersionPackage}.gitTreeState=clean`,
      ].join(" "),
      estimate: "several minutes",
      builtBy: TESTENV_UP,
    },
    {
      version: VERSIONS.etcd,
      pinnedModule: "go.etcd.io/etcd/server/v3",
      module: "etcd",
      dir: dirs.etcd,
      outputs: { etcd: "." },
      estimate: "a few minutes",
      builtBy: TESTENV_UP,
    },
    {
      version: VERSIONS.vault,
      pinnedModule: "github.com/hashicorp/vault",
      module: "vault",
      dir: dirs.vault,
      outputs: { vault: "github.com/hashicorp/vault" },
      patch: { module: "github.com/hashicorp/vault", version: VERSIONS.vault, edits: VAULT_SOURCE_PATCHES },
      tags: "minimal",
      estimate: "several minutes",
      builtBy: TESTENV_UP,
    },
  ];
}

/** The wrapper modules (devenv/go/*) that `testenv up` builds; helm is built only by the chart tests. */
export function controlPlaneModules(): string[] {
  return buildSpecs().map((spec) => spec.module);
}

/**
 * Each output of the specs from the directory named by DEPUTY_TESTENV_BIN_DIR,
 * checked against its pin; nothing is copied or built.
 */
async function checkedInDirectory(dir: string, specs: BuildSpec[]): Promise<void> {
  for (const spec of specs) {
    for (const output of Object.keys(spec.outputs)) {
      const file = join(dir, output);
      if (!(await isExecutable(file))) {
        throw new DeputyError(
          "TESTENV_FAILED",
          `${BIN_DIR_VARIABLE} is ${dir}, but it has no executable ${output}; ` +
            `put the pinned ${output} ${spec.version} there, or unset ${BIN_DIR_VARIABLE} to build it`,
        );
      }
      await verify(file, spec);
    }
  }
}

/**
 * Make sure every binary is the pinned version: from DEPUTY_TESTENV_BIN_DIR
 * when set, else from the cache, building what is missing or not the pin.
 */
export async function ensureBinaries(
  progress: Progress = () => {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<Binaries> {
  const fromDirectory = env[BIN_DIR_VARIABLE];
  if (fromDirectory) {
    await checkedInDirectory(fromDirectory, buildSpecs());
    progress(`using the pinned binaries in ${fromDirectory} (${BIN_DIR_VARIABLE})`);
    return binariesIn({ kube: fromDirectory, etcd: fromDirectory, vault: fromDirectory });
  }
  for (const spec of buildSpecs()) await ensureBuilt(spec, progress);
  return binariesIn(binaryDirs());
}

function binariesIn(dirs: { kube: string; etcd: string; vault: string }): Binaries {
  return {
    kubeApiserver: join(dirs.kube, "kube-apiserver"),
    kubeControllerManager: join(dirs.kube, "kube-controller-manager"),
    etcd: join(dirs.etcd, "etcd"),
    vault: join(dirs.vault, "vault"),
  };
}

/** helm at its pin, built like the control plane but only for the chart tests. */
function helmSpec(env: NodeJS.ProcessEnv): BuildSpec {
  const versionPackage = "helm.sh/helm/v4/internal/version";
  return {
    version: VERSIONS.helm,
    pinnedModule: "helm.sh/helm/v4",
    module: "helm",
    dir: binaryDirs(env).helm,
    outputs: { helm: "helm.sh/helm/v4/cmd/helm" },
    // As helm's own Makefile stamps a release: `helm version` reports the pin, not "v4.3".
    ldflags: `-X ${versionPackage}.version=${VERSIONS.helm} -X ${versionPackage}.gitTreeState=clean`,
    estimate: "a few minutes",
    builtBy: "the chart tests (npm exec -- vitest run test/charts)",
  };
}

/**
 * How long a chart test waits for another process building helm: a cold
 * build took 20 minutes on a two-core machine busy with two other Go builds.
 */
const HELM_LOCK_WAIT_MS = 40 * 60_000;

/**
 * The pinned helm: from DEPUTY_TESTENV_BIN_DIR when set, else from the cache,
 * built on first use. Called by the chart tests, never by `testenv up`, so a
 * run that renders no chart never pays for it. A lock file beside the cached
 * binary makes two test files that ask at once build it once.
 */
export async function ensureHelm(
  progress: Progress = () => {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const spec = helmSpec(env);
  const fromDirectory = env[BIN_DIR_VARIABLE];
  if (fromDirectory) {
    await checkedInDirectory(fromDirectory, [spec]);
    return join(fromDirectory, "helm");
  }
  await mkdir(spec.dir, { recursive: true });
  await withFileLock(
    join(spec.dir, ".lock"),
    {
      waitMs: HELM_LOCK_WAIT_MS,
      progress,
      waiting: (holder, minutes) =>
        `waiting for pid ${holder} to finish building helm ${spec.version}: ${minutes} min so far`,
      timedOut: (holder) =>
        `waited ${HELM_LOCK_WAIT_MS / 60_000} min for pid ${holder} to build helm ${spec.version}; ` +
        `if that process is stuck, stop it (kill ${holder}) and run the chart tests again`,
    },
    () => ensureBuilt(spec, progress),
  );
  return join(spec.dir, "helm");
}

/** The pinned module and version of the API server binary (for checking a running one). */
export const KUBE_PIN = { module: "k8s.io/kubernetes", version: VERSIONS.kube } as const;
