import { homedir } from "node:os";
import { join, resolve } from "node:path";

/**
 * Where the local test environment keeps things. Built binaries live in a
 * per-user cache outside the repo, keyed by version, so a fresh clone only
 * pays the Go build once per machine; everything that belongs to one running
 * environment lives in `.testenv/` at the repo root (gitignored).
 */
export const VERSIONS = { kube: "v1.35.4", etcd: "v3.6.13", vault: "v1.21.4", helm: "v4.3.2" } as const;

export const REPO_ROOT = resolve(import.meta.dirname, "..");
export const GO_MODULES_DIR = join(REPO_ROOT, "devenv", "go");

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.length > 0 ? env.XDG_CACHE_HOME : join(homedir(), ".cache");
  return join(base, "deputy", "bin");
}

export interface TestEnvLayout {
  root: string;
  pki: string;
  etcdData: string;
  logs: string;
  /** Pod logs served by the fake kubelet: logs/<ns>/<pod>/<container>.log */
  podLogs: string;
  pids: string;
  kubeconfig: string;
  envFile: string;
  envJson: string;
  lock: string;
}

/** `DEPUTY_TESTENV_DIR` moves the whole environment elsewhere (e.g. to run two side by side). */
export function testEnvLayout(
  root: string = process.env.DEPUTY_TESTENV_DIR || join(REPO_ROOT, ".testenv"),
): TestEnvLayout {
  return {
    root,
    pki: join(root, "pki"),
    etcdData: join(root, "etcd"),
    logs: join(root, "process-logs"),
    podLogs: join(root, "logs"),
    pids: join(root, "pids"),
    kubeconfig: join(root, "kubeconfig"),
    envFile: join(root, "env"),
    envJson: join(root, "env.json"),
    lock: join(root, "up.lock"),
  };
}
