import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isKubeApiError } from "../../core/kube/errors.ts";
import { roleForAction } from "../../core/openbao-roles.ts";
import type { TestEnvState } from "../../devenv/testenv.ts";
import { createCredentialBroker } from "../../executor/credential-broker.ts";
import { createKubeWriter } from "../../executor/kube-writer.ts";
import type { ClusterEndpoint } from "../../executor/kube-writer.ts";
import { capture } from "../executor/support.ts";
import { prepareWriteEnv, type WriteEnv } from "../executor/write-env.ts";

/**
 * Two local control planes side by side: the shared test environment is
 * cluster A; a second one, in a directory of its own with ports of its own,
 * is cluster B. Nothing Deputy obtains for one cluster opens the other.
 */
const run = promisify(execFile);
const CLI = join(import.meta.dirname, "../../cli/deputy.ts");
const NS = "deputy-w-broker";

let dirB: string;
let clusterB: ClusterEndpoint;
let envA: WriteEnv;
const captured = capture();

/** `deputy testenv` in another directory, as a process of its own (a test worker may not start one). */
async function testenv(command: "up" | "down"): Promise<void> {
  const env: NodeJS.ProcessEnv = { ...process.env, DEPUTY_TESTENV_DIR: dirB };
  delete env.VITEST_WORKER_ID;
  delete env.VITEST_POOL_ID;
  delete env.VITEST;
  await run(process.execPath, [CLI, "testenv", command], { env, timeout: 110_000 });
}

beforeAll(async () => {
  dirB = await mkdtemp(join(tmpdir(), "deputy-cluster-b-"));
  await testenv("up");
  const state = JSON.parse(await readFile(join(dirB, "env.json"), "utf8")) as TestEnvState;
  clusterB = { server: state.server, caPem: await readFile(state.caFile, "utf8") };
  envA = await prepareWriteEnv();
}, 120_000);

afterAll(async () => {
  if (dirB) {
    await testenv("down").catch(() => undefined);
    await rm(dirB, { recursive: true, force: true });
  }
}, 60_000);

async function statusOf(cluster: ClusterEndpoint, token: string, path: string): Promise<number> {
  const writer = createKubeWriter(cluster, token, { retry: { attempts: 1, baseMs: 1, capMs: 1 } });
  try {
    await writer.get(path);
    return 200;
  } catch (error) {
    if (isKubeApiError(error)) return error.status;
    throw error;
  } finally {
    writer.close();
  }
}

describe("two clusters side by side", () => {
  it("runs cluster B on an API server of its own", () => {
    expect(clusterB.server).not.toBe(envA.cluster.server);
  });

  it("a credential minted by cluster A's OpenBao role is refused (401) by cluster B's API server", async () => {
    const broker = createCredentialBroker({
      openbao: envA.openbao,
      logger: captured.logger,
      authMount: envA.authMount,
      authRole: envA.authRole,
      secretsMount: envA.secretsMount,
      jwtPath: envA.jwtPath,
    });
    const role = roleForAction(envA.roles, "scale_deployment");
    const path = `/apis/apps/v1/namespaces/${NS}/deployments/nope`;
    const statuses = await broker.withCredential({ role, namespace: NS }, async (credential) => ({
      // In A the credential authenticates: the Deployment is simply absent.
      inA: await statusOf(envA.cluster, credential.token, path),
      inB: await statusOf(clusterB, credential.token, path),
    }));
    expect(statuses.value).toEqual({ inA: 404, inB: 401 });
    expect(statuses.revoked).toBe(true);
  });
});
