import { watchRedisHealth } from "../core/state/redis.ts";
import type { Logger } from "../core/observability/logger.ts";
import { readFileSync } from "node:fs";
import { KubeConfig } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import { clusterNameSchema } from "../core/config/clusters.ts";
import type { Config } from "../core/config/config.ts";
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

/** A cluster reached through a kubeconfig, set up with the given OpenBao admin token. */
function kubeconfigCluster(
  kubeconfigPath: string,
  kc: KubeConfig,
  server: string,
  bao: { addr: string; token: string },
  redisUrl: string,
): LocalCluster {
  return {
    source: "kubeconfig",
    kubeconfigPath,
    admin: kc,
    server,
    caPem: caPemOf(kc),
    baoAddr: bao.addr,
    baoSetupToken: bao.token,
    redisUrl,
  };
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
      return kubeconfigCluster(config.kube.kubeconfig, kc, server, bao, config.redis.url);
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

/** One cluster local mode serves: its name (cards, audit records, Redis keys) and where it is. */
export interface ServedCluster extends LocalCluster {
  name: string;
  /** The kubeconfig context it comes from (DEPUTY_KUBE_CONTEXTS); undefined: the one cluster of today. */
  context: string | undefined;
}

export interface ServedClusters {
  /** In the order DEPUTY_KUBE_CONTEXTS lists them; one entry without it. */
  clusters: ServedCluster[];
  /** Where a conversation starts: the kubeconfig's current context if listed, else the first listed. */
  defaultCluster: string;
  /** Several clusters share one OpenBao: each gets mounts and policies of its own (rolesForCluster). */
  several: boolean;
}

/** A name for a context that is not a DNS label: lower-case, other characters as '-'. */
function suggestedName(context: string): string {
  const name = context
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63)
    .replace(/-+$/, "");
  return name || "cluster-a";
}

/**
 * DEPUTY_KUBE_CONTEXTS checked against the kubeconfig before anything is
 * created: every name is a context it has and a DNS label, none twice.
 */
export function checkKubeContexts(
  kubeconfigPath: string | undefined,
  contexts: readonly string[],
): KubeConfig {
  if (!kubeconfigPath) {
    throw new DeputyError(
      "CONFIG_INVALID",
      "DEPUTY_KUBE_CONTEXTS names kubeconfig contexts, but KUBECONFIG is not set: point KUBECONFIG at the file that has them",
    );
  }
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(kubeconfigPath);
  } catch (error) {
    throw new DeputyError(
      "CONFIG_INVALID",
      `DEPUTY_KUBE_CONTEXTS: KUBECONFIG (${kubeconfigPath}) cannot be read: ${describeError(error)}`,
      { cause: error },
    );
  }
  const known = kc.getContexts().map((context) => context.name);
  const seen = new Set<string>();
  for (const context of contexts) {
    if (seen.has(context)) {
      throw new DeputyError("CONFIG_INVALID", `DEPUTY_KUBE_CONTEXTS names context "${context}" twice`);
    }
    seen.add(context);
    if (!known.includes(context)) {
      throw new DeputyError(
        "CONFIG_INVALID",
        `DEPUTY_KUBE_CONTEXTS names context "${context}", which KUBECONFIG (${kubeconfigPath}) does not have; ` +
          `its contexts are: ${known.length > 0 ? known.join(", ") : "(none)"}`,
      );
    }
    const name = clusterNameSchema.safeParse(context);
    if (!name.success) {
      throw new DeputyError(
        "CONFIG_INVALID",
        `DEPUTY_KUBE_CONTEXTS: context "${context}" names a cluster, and a cluster name ${name.error.issues[0]?.message ?? "must be a DNS label"}; ` +
          `rename the context (kubectl config rename-context ${context} ${suggestedName(context)}) and list the new name`,
      );
    }
    const entry = kc.getContextObject(context);
    if (!entry || !kc.getCluster(entry.cluster)) {
      throw new DeputyError(
        "CONFIG_INVALID",
        `DEPUTY_KUBE_CONTEXTS: context "${context}" names cluster "${entry?.cluster ?? ""}", which KUBECONFIG (${kubeconfigPath}) does not define`,
      );
    }
  }
  return kc;
}

/**
 * The clusters local mode serves. Without DEPUTY_KUBE_CONTEXTS, the one of
 * resolveLocalCluster (named DEPUTY_CLUSTER_NAME). With it, each listed
 * context is a cluster named after it; all are checked and must answer
 * before anything is created, and one OpenBao (BAO_ADDR and BAO_TOKEN, or the
 * test environment's when a context is its cluster) is set up for them all.
 */
export async function resolveServedClusters(
  config: Config,
  env: Record<string, string | undefined>,
  progress: Progress,
): Promise<ServedClusters> {
  const contexts = config.console.kubeContexts;
  if (contexts.length === 0) {
    const cluster = await resolveLocalCluster(config, env, progress);
    return {
      clusters: [{ ...cluster, name: config.kube.clusterName, context: undefined }],
      defaultCluster: config.kube.clusterName,
      several: false,
    };
  }
  const kubeconfigPath = config.kube.kubeconfig;
  const file = checkKubeContexts(kubeconfigPath, contexts);
  const loaded = contexts.map((context) => {
    const kc = loadKubeConfig({ kubeconfig: kubeconfigPath, context });
    return { context, kc, server: kc.getCurrentCluster()?.server ?? "" };
  });
  // All at once: a start-up with one cluster down fails within one probe's timeout.
  const probes = await Promise.all(loaded.map(({ kc }) => probeCluster(kc)));
  const found: Array<{ context: string; kc: KubeConfig; server: string }> = [];
  for (const [index, { context, kc, server }] of loaded.entries()) {
    const probe = probes[index]!;
    if (!probe.ok) {
      throw new DeputyError(
        "UPSTREAM_FAILED",
        `DEPUTY_KUBE_CONTEXTS: context "${context}" points at ${server}, which does not answer (${probe.reason}); ` +
          "start that cluster or leave the context out of the list",
      );
    }
    progress(`cluster ${context}: context "${context}" of KUBECONFIG (${server})`);
    found.push({ context, kc, server });
  }
  let bao: { addr: string; token: string } | undefined = env.BAO_TOKEN
    ? { addr: config.openbao.addr, token: env.BAO_TOKEN }
    : undefined;
  for (const { server } of found) bao ??= await testEnvOpenBao(server);
  if (!bao) {
    throw new DeputyError(
      "CONFIG_INVALID",
      `DEPUTY_KUBE_CONTEXTS names ${contexts.join(", ")}, but no OpenBao is configured for them: set BAO_ADDR and BAO_TOKEN ` +
        "(an OpenBao admin token, used once to set up each cluster's Kubernetes auth and secrets engine)",
    );
  }
  const current = file.getCurrentContext();
  return {
    clusters: found.map(({ context, kc, server }) => ({
      name: context,
      context,
      ...kubeconfigCluster(kubeconfigPath!, kc, server, bao, config.redis.url),
    })),
    defaultCluster: contexts.includes(current) ? current : contexts[0]!,
    several: true,
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
