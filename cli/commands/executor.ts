import { startTracing } from "../../core/observability/tracing.ts";
import { stopSignal } from "../signals.ts";
import { createRedisClient, watchRedisHealth } from "../../core/state/redis.ts";
import { readFileSync } from "node:fs";
import { createAuditLog, type AuditObserver } from "../../core/audit/log.ts";
import { headlessAnomalyObserver } from "../../core/observability/anomaly.ts";
import { parseConfig } from "../../core/config/config.ts";
import { approvalPolicyFromConfig } from "../../core/actions/approval-policy.ts";
import { createCloser } from "../../core/closer.ts";
import { option, portOption } from "../options.ts";
import { DeputyError, describeError } from "../../core/errors.ts";
import { loadKubeConfig } from "../../core/kube/config.ts";
import { createLogger } from "../../core/observability/logger.ts";
import { createMetrics, startMetricsServer } from "../../core/observability/metrics.ts";
import { startExecutorHttpServer } from "../../executor/http.ts";
import { queueActionNotice } from "../../core/actions/notices.ts";
import { createOpenBaoClient } from "../../executor/openbao-client.ts";
import { setupOpenBao } from "../../executor/openbao-setup.ts";
import { loadOpenBaoRoles, renderActionRolesManifest } from "../../core/identity/openbao-roles.ts";
import { createCallerVerifier } from "../../core/identity/caller-auth.ts";
import { requireKey } from "../../core/identity/keys.ts";
import {
  clusterEndpointOf,
  startExecutorFromConfig,
  loadKeysFromConfig,
  withRedisSecrets,
  loadRolesFromConfig,
} from "../../executor/wiring.ts";

const USAGE = `Usage:
  deputy executor [--host H] [--port N]
      Serve the approval executor's decision endpoint (POST /v1/decisions, GET /healthz).
      Default 127.0.0.1:$DEPUTY_EXECUTOR_PORT (8081). Writes use OpenBao credentials only.

  deputy executor setup-openbao [--engine-jwt-file F] [--kube-host URL] [--kube-ca-file F]
      Configure OpenBao (idempotent) from manifests/openbao/roles.yaml: Kubernetes auth, policies,
      the Kubernetes secrets engine and one role per action type. Needs an admin token in BAO_TOKEN
      (used for this command only). --kube-host/--kube-ca-file default to the current kubeconfig's cluster.
      No token-reviewer JWT is stored: each login's own token authenticates its TokenReview. Without
      --engine-jwt-file the secrets engine uses the OpenBao pod's own (kubelet-rotated) token.

  deputy executor action-roles
      Print the pre-created ClusterRoles (one per action type) rendered from roles.yaml, as shipped in
      manifests/base/rbac/deputy-action-roles.yaml.
`;

function readRequired(path: string | undefined, what: string): string {
  if (!path) throw new DeputyError("INPUT_INVALID", `${what} is required`);
  try {
    return readFileSync(path, "utf8").trim();
  } catch (error) {
    throw new DeputyError("INPUT_INVALID", `Cannot read ${what} ${path}: ${describeError(error)}`);
  }
}

async function setup(args: string[]): Promise<number> {
  const config = parseConfig();
  const adminToken = process.env.BAO_TOKEN;
  if (!adminToken)
    throw new DeputyError("INPUT_INVALID", "BAO_TOKEN (an OpenBao admin token) is required for setup");
  const endpoint = clusterEndpointOf(loadKubeConfig({ kubeconfig: config.kube.kubeconfig }));
  const caFile = option(args, "--kube-ca-file");
  const caPem = caFile ? readRequired(caFile, "--kube-ca-file") : endpoint.caPem;
  if (!caPem) throw new DeputyError("INPUT_INVALID", "The cluster CA is unknown; pass --kube-ca-file");
  const engineJwtFile = option(args, "--engine-jwt-file");
  const result = await setupOpenBao({
    openbao: createOpenBaoClient({ addr: config.openbao.addr }),
    adminToken,
    roles: loadRolesFromConfig(config),
    kubernetesHost: option(args, "--kube-host") ?? endpoint.server,
    kubernetesCaPem: caPem,
    secretsEngineJwt: engineJwtFile ? readRequired(engineJwtFile, "--engine-jwt-file") : undefined,
  });
  process.stdout.write(
    `OpenBao at ${config.openbao.addr} configured: auth/${result.authMount} (roles ${result.authRoles.join(", ")}), policies ${result.policies.join(", ")}, ${result.secretsMount}/ with ${result.secretsRoles.length} roles.\n`,
  );
  return 0;
}

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (args[0] === "setup-openbao") return setup(args.slice(1));
  if (args[0] === "action-roles") {
    process.stdout.write(renderActionRolesManifest(loadOpenBaoRoles()));
    return 0;
  }
  if (args[0] !== undefined && !args[0].startsWith("--")) {
    process.stderr.write(`deputy executor: unknown subcommand "${args[0]}"\n\n${USAGE}`);
    return 2;
  }
  const tracing = startTracing("deputy-executor");
  const config = parseConfig();
  const logger = createLogger({ level: config.logLevel, name: "deputy-executor" });
  // A policy that does not parse or type-check stops the executor before anything starts.
  const policy = approvalPolicyFromConfig(config, { logger });
  // Before anything listens: without its keys the executor cannot tell the bot from anyone else.
  const keys = await loadKeysFromConfig({
    config,
    role: config.openbao.authRole,
    purposes: ["action", "executorCaller"],
    component: "deputy executor",
    logger,
  });
  // Executions, decisions and their latency are counted from audit records; OpenBao logins by
  // the broker; pending actions are read from the shared store at scrape time.
  const metrics = createMetrics({ processMetrics: true, labels: { component: "executor" } });
  // Executed deletes and evictions are counted here (bound below once Redis is up).
  let observeAnomalies: AuditObserver = () => {};
  const audit = createAuditLog({
    ...(config.observability.auditFile ? { file: config.observability.auditFile } : {}),
    onRecord: [(record) => metrics.observeAudit(record), (record) => observeAnomalies(record)],
  });
  const closer = createCloser(() => logger);
  closer.add("tracing", () => tracing.shutdown()); // closed last: exports the spans of the rest
  const redis = createRedisClient((await withRedisSecrets(config, config.openbao.authRole, logger)).redis, {
    lazyConnect: true,
    maxRetriesPerRequest: 3,
  });
  watchRedisHealth(redis, logger);
  closer.add("Redis", () => redis.disconnect());
  await redis.connect();
  observeAnomalies = headlessAnomalyObserver({ config, redis, audit, logger, metrics });
  const { executor } = startExecutorFromConfig({
    config,
    redis,
    audit,
    logger,
    cluster: clusterEndpointOf(loadKubeConfig({ kubeconfig: config.kube.kubeconfig })),
    actionKey: requireKey(keys, "action", "deputy executor"),
    policy,
    metrics,
    closer,
  });
  const port = portOption(args, config.approvals.executorPort);
  const host = option(args, "--host") ?? "127.0.0.1";
  // Prometheus scrapes its own port, so /v1/decisions stays reachable only by the bot's principal.
  // Started first so it closes last: it still answers while running decisions finish.
  const metricsServer = await startMetricsServer(metrics, { host, port: config.observability.metricsPort });
  closer.add("the metrics server", () => metricsServer.close());
  const server = await startExecutorHttpServer({
    executor,
    logger,
    audit,
    callers: createCallerVerifier({
      key: requireKey(keys, "executorCaller", "deputy executor"),
      purpose: "executor",
      redis,
      prefix: config.redis.prefix,
    }),
    host,
    port,
    // A result nobody waits for any more (the bot timed out) is told in its thread.
    notify: queueActionNotice(redis, config.redis.prefix),
  });
  // Closed first: no new decision is taken, and those running finish with Redis and heartbeats up.
  closer.add("the decisions server", () => server.close());
  process.stderr.write(
    `deputy executor: decisions at ${server.url}/v1/decisions; metrics at ${metricsServer.url}\n`,
  );
  const signal = await stopSignal();
  const running = server.running;
  process.stderr.write(
    `deputy executor: ${signal}, stopping: no new decisions${running > 0 ? `; ${running} running finish first` : ""}\n`,
  );
  await closer.closeAll();
  process.stderr.write("deputy executor: stopped\n");
  return 0;
}
