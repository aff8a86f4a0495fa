import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { KubeConfig } from "@kubernetes/client-node";
import type { ClusterEndpoint } from "../../executor/kube-writer.ts";
import { allowPreviewImpersonation, waitForUsablePreview } from "../helpers/preview.ts";
import { adminKubeConfig, loadTestEnv, serviceAccountKubeConfig, type TestEnv } from "../helpers/testenv.ts";

/**
 * A second local control plane and OpenBao beside the shared test
 * environment: `deputy testenv` in a temporary directory of its own, with
 * ports of its own (about 15 s with the binaries cached). Its Redis is the
 * machine's, as for every cluster's components in one test run.
 */
export interface SecondCluster {
  env: TestEnv;
  admin: KubeConfig;
  endpoint: ClusterEndpoint;
  /**
   * This cluster's read identity (`namespace/name` bound to deputy-reader),
   * allowed to impersonate the dry-run-only preview account as the main
   * cluster's is (test/mcp/harness.ts readerKubeConfig): the shipped preview
   * objects applied with this cluster's admin kubeconfig, a RoleBinding to the
   * shipped impersonator Role, and the self-check passing.
   */
  readerKubeConfig(namespace: string, name: string): Promise<KubeConfig>;
  stop(): Promise<void>;
}

const run = promisify(execFile);
const CLI = join(import.meta.dirname, "../../cli/deputy.ts");

/** `deputy testenv` in `dir`, as a process of its own (a test worker may not start one). */
async function testenv(dir: string, command: "up" | "down"): Promise<void> {
  // The environment's own processes; any Redis key it writes stays under a test prefix.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DEPUTY_TESTENV_DIR: dir,
    DEPUTY_REDIS_PREFIX: "deputy-test-second-cluster:",
  };
  delete env.VITEST_WORKER_ID;
  delete env.VITEST_POOL_ID;
  delete env.VITEST;
  await run(process.execPath, [CLI, "testenv", command], { env, timeout: 110_000 });
}

export async function startSecondCluster(): Promise<SecondCluster> {
  const dir = await mkdtemp(join(tmpdir(), "deputy-cluster-b-"));
  const stop = async (): Promise<void> => {
    await testenv(dir, "down").catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await testenv(dir, "up");
    const env = loadTestEnv(dir);
    return {
      env,
      admin: adminKubeConfig(env),
      endpoint: { server: env.server, caPem: await readFile(env.caFile, "utf8") },
      async readerKubeConfig(namespace, name) {
        const kubeConfig = await serviceAccountKubeConfig(
          namespace,
          name,
          { clusterRole: "deputy-reader" },
          env,
        );
        await allowPreviewImpersonation(namespace, name, env);
        await waitForUsablePreview(kubeConfig);
        return kubeConfig;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
