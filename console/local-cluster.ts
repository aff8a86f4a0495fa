import { watchRedisHealth } from "../core/redis.ts";
import type { Logger } from "../core/logger.ts";
import { readFileSync } from "node:fs";
import type { KubeConfig } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import type { Config } from "../core/config.ts";
import { DeputyError, describeError } from "../core/errors.ts";
import { createKubeClients } from "../core/kube/client.ts";
import { loadKubeConfig } from "../core/kube/config.ts";
import { testEnvLayout } from "../devenv/layout.ts";
import { seedCluster } from "../devenv/seed.ts";
import { testEnvStatus, upTestEnv } from "../devenv/testenv.ts";

/**
 * Where local mode's cluster, OpenBao and Redis come from. A KUBECONFIG that
 * answers is used as it is; otherwise the project's own local control plane,
 * OpenBao-compatible dev server and Redis are brought up (the first time
 * builds them from Go modules, which takes minutes) and the troubled demo
 * cluster is seeded.
 */

export interface LocalCluster {
  source: "kubeconfig" | "local";
  /** Admin kubeconfig: used at start-up to create Deputy's identities, never by the tools. */
  kubeconfigPath: string;
  admin: KubeConfig;
  server: string;
  caPem: string | undefined;
  baoAddr: string;
  /** OpenBao admin token for the one-time setup; dropped after it. */
  baoSetupToken: string;
  redisUrl: string;
}

export type Progress = (line: string) => void;

const PROBE_TIMEOUT_MS = 5000;

/** Whether the API server behind a kubeconfig answers `/version`. */
export async function probeCluster(kc: KubeConfig): Promise<{ ok: true } | { ok: false; reason: string }> {
  const clients = createKubeClients(kc, { maxConcurrency: 1 });
  try {
    await clients.request("/version", { retry: false, signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    return { ok: true };
  } catch (error) {
    return { ok: false, reason: describeError(error) };
  } finally {
    clients.close();
  }
}

function caPemOf(kc: KubeConfig): string | undefined {
  const cluster = kc.getCurrentCluster();
  if (!cluster) return undefined;
  if (cluster.caData) return Buffer.from(cluster.caData, "base64").toString("utf8");
  if (cluster.caFile) return readFileSync(cluster.caFile, "utf8");
  return undefined;
}

/** The running test environment's OpenBao, when KUBECONFIG is that environment's own cluster. */
async function testEnvOpenBao(server: string): Promise<{ addr: string; token: string } | undefined> {
  const status = await testEnvStatus(testEnvLayout());
  if (!status.state || !status.vault || status.state.server !== server) return undefined;
  return { addr: status.state.baoAddr, token: status.state.baoRootToken };
}

export async function resolveLocalCluster(
  config: Config,
  env: Record<string, string | undefined>,
  progress: Progress,
): Promise<LocalCluster> {
  if (config.kube.kubeconfig) {
    let kc: KubeConfig | undefined;
    try {
      kc = loadKubeConfig({ kubeconfig: config.kube.kubeconfig });
    } catch (error) {
      progress(`KUBECONFIG cannot be used (${describeError(error)}); using the local cluster instead`);
    }
    const server = kc?.getCurrentCluster()?.server ?? "";
    const probe = kc ? await probeCluster(kc) : { ok: false as const, reason: "" };
    if (kc && probe.ok) {
      progress(`using the cluster from KUBECONFIG (${server})`);
      const bao = env.BAO_TOKEN
        ? { addr: config.openbao.addr, token: env.BAO_TOKEN }
        : await testEnvOpenBao(server);
      if (!bao) {
        throw new DeputyError(
          "CONFIG_INVALID",
          `KUBECONFIG points at ${server}, but no OpenBao is configured for it: set BAO_ADDR and BAO_TOKEN ` +
            "(an OpenBao admin token, used once to set up Kubernetes auth and the secrets engine), " +
            "or unset KUBECONFIG to use the built-in local cluster",
        );
      }
      return {
        source: "kubeconfig",
        kubeconfigPath: config.kube.kubeconfig,
        admin: kc,
        server,
        caPem: caPemOf(kc),
        baoAddr: bao.addr,
        baoSetupToken: bao.token,
        redisUrl: config.redis.url,
      };
    }
    if (kc && !probe.ok) {
      progress(
        `KUBECONFIG points at ${server}, which does not answer (${probe.reason}); using the local cluster instead`,
      );
    }
  }

  progress(
    "starting the local control plane, OpenBao dev server and Redis (the first run builds them: minutes)",
  );
  let state;
  try {
    state = await upTestEnv({ progress: (line) => progress(`  ${line}`) });
  } catch (error) {
    throw new DeputyError(
      "TESTENV_FAILED",
      `the local cluster could not be started: ${describeError(error)} (process logs are in ${testEnvLayout().logs})`,
      { cause: error },
    );
  }
  const kc = loadKubeConfig({ kubeconfig: state.kubeconfig });
  progress("seeding the demo cluster (namespace shop)");
  await seedCluster(kc, { progress: (line) => progress(`  ${line}`) });
  return {
    source: "local",
    kubeconfigPath: state.kubeconfig,
    admin: kc,
    server: state.server,
    caPem: readFileSync(state.caFile, "utf8"),
    baoAddr: state.baoAddr,
    baoSetupToken: state.baoRootToken,
    redisUrl: state.redisUrl,
  };
}

/** A Redis client that has answered PING, or a clear error. */
export async function connectRedis(url: string, logger: Logger): Promise<Redis> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2, connectTimeout: 5000 });
  watchRedisHealth(redis, logger);
  try {
    await redis.connect();
    await redis.ping();
    return redis;
  } catch (error) {
    redis.disconnect();
    throw new DeputyError(
      "UPSTREAM_FAILED",
      `Redis at ${url} does not answer: ${describeError(error)} (set REDIS_URL)`,
      {
        cause: error,
      },
    );
  }
}
