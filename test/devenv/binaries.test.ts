import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BIN_DIR_VARIABLE,
  binaryDirs,
  checkBinaryVersion,
  controlPlaneModules,
  ensureBinaries,
  ensureHelm,
  goModuleVersions,
} from "../../devenv/binaries.ts";
import { VERSIONS } from "../../devenv/layout.ts";
import { checkRunningVersions, requireTestEnvState } from "../../devenv/testenv.ts";

const NAMES = ["kube-apiserver", "kube-controller-manager", "etcd", "vault"] as const;

function cached(name: (typeof NAMES)[number]): string {
  const dirs = binaryDirs();
  if (name === "etcd") return join(dirs.etcd, name);
  if (name === "vault") return join(dirs.vault, name);
  return join(dirs.kube, name);
}

describe("pinned binaries", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "deputy-bins-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads the pinned module versions a Go binary records about itself", async () => {
    expect((await goModuleVersions(cached("kube-apiserver"))).get("k8s.io/kubernetes")).toBe(VERSIONS.kube);
    expect((await goModuleVersions(cached("etcd"))).get("go.etcd.io/etcd/server/v3")).toBe(VERSIONS.etcd);
    expect((await goModuleVersions(cached("vault"))).get("github.com/hashicorp/vault")).toBe(VERSIONS.vault);
  });

  it("refuses an executable that merely carries the right name", async () => {
    const impostor = join(dir, "kube-apiserver");
    await writeFile(impostor, "#!/bin/sh\necho 'Kubernetes v1.30.0'\n");
    await chmod(impostor, 0o755);
    expect(
      await checkBinaryVersion(impostor, { module: "k8s.io/kubernetes", version: VERSIONS.kube }),
    ).toEqual({
      ok: false,
      found: "Kubernetes v1.30.0",
    });
  });

  it("uses a directory named by the variable in place, only when every binary there is the pin", async () => {
    const named = join(dir, "named");
    await mkdir(named);
    for (const name of NAMES) await symlink(cached(name), join(named, name));
    const env = { ...process.env, [BIN_DIR_VARIABLE]: named };
    const binaries = await ensureBinaries(() => {}, env);
    expect(binaries).toEqual({
      kubeApiserver: join(named, "kube-apiserver"),
      kubeControllerManager: join(named, "kube-controller-manager"),
      etcd: join(named, "etcd"),
      vault: join(named, "vault"),
    });

    // Swap one for a stray executable of another version: refused with the fix in the sentence.
    await rm(join(named, "etcd"));
    await writeFile(join(named, "etcd"), "#!/bin/sh\necho 'etcd Version: 3.5.0'\n");
    await chmod(join(named, "etcd"), 0o755);
    await expect(ensureBinaries(() => {}, env)).rejects.toThrow(
      `${join(named, "etcd")} is etcd Version: 3.5.0, not the pinned go.etcd.io/etcd/server/v3 ${VERSIONS.etcd}`,
    );

    await rm(join(named, "etcd"));
    await expect(ensureBinaries(() => {}, env)).rejects.toThrow(
      `${BIN_DIR_VARIABLE} is ${named}, but it has no executable etcd`,
    );
  });

  it("builds helm only when a chart test asks, not with the control plane", async () => {
    expect(controlPlaneModules()).toEqual(["kube", "etcd", "vault"]);
    expect(binaryDirs().helm.endsWith(`helm-${VERSIONS.helm}`)).toBe(true);

    // A named directory is used as it is for helm too: never built into, checked against the pin.
    const named = join(dir, "named-helm");
    await mkdir(named);
    const env = { ...process.env, [BIN_DIR_VARIABLE]: named };
    await expect(ensureHelm(() => {}, env)).rejects.toThrow(
      `${BIN_DIR_VARIABLE} is ${named}, but it has no executable helm`,
    );
    await writeFile(join(named, "helm"), "#!/bin/sh\necho 'v3.19.0+g1234567'\n");
    await chmod(join(named, "helm"), 0o755);
    await expect(ensureHelm(() => {}, env)).rejects.toThrow(
      `${join(named, "helm")} is v3.19.0+g1234567, not the pinned helm.sh/helm/v4 ${VERSIONS.helm}`,
    );
  });

  it("checks the running API server and Vault against the pins", async () => {
    const running = await checkRunningVersions(await requireTestEnvState());
    expect(running.vault).toBe(VERSIONS.vault.replace(/^v/, ""));
    expect(running.mismatches).toEqual([]);
  });
});
