import { startTracing } from "../../core/observability/tracing.ts";
import { stopSignal } from "../signals.ts";
import { createRedisClient, watchRedisHealth } from "../../core/state/redis.ts";
import { pino } from "pino";
import { createAuditLog, type AuditObserver } from "../../core/audit/log.ts";
import { headlessAnomalyObserver } from "../../core/observability/anomaly.ts";
import { parseConfig } from "../../core/config/config.ts";
import { createCloser } from "../../core/closer.ts";
import { option, portOption } from "../options.ts";
import { createLogger } from "../../core/observability/logger.ts";
import { createMetrics, startMetricsServer } from "../../core/observability/metrics.ts";
import { createCallerVerifier } from "../../core/identity/caller-auth.ts";
import { generateKeys, requireKey } from "../../core/identity/keys.ts";
import { loadKeysFromConfig, withRedisSecrets } from "../../executor/wiring.ts";
import { closeMcpDeps, mcpDepsFromConfig } from "../../mcp/wiring.ts";
import { startHttpServer } from "../../mcp/transports/http.ts";
import { serveStdio } from "../../mcp/transports/stdio.ts";

const USAGE = `Usage:
  deputy mcp --http [--host H] [--port N]   Streamable HTTP on /mcp (default 127.0.0.1:8080), with /healthz and /readyz
  deputy mcp --stdio                        stdio, for Claude Desktop/Code or any local MCP client

Kubernetes credentials: KUBECONFIG (else in-cluster service account, else ~/.kube/config).
`;

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(USAGE);
    return 0;
  }
  const http = args.includes("--http");
  const stdio = args.includes("--stdio");
  if (http === stdio) {
    process.stderr.write(`deputy mcp: choose exactly one of --http or --stdio\n\n${USAGE}`);
    return 2;
  }
  const tracing = startTracing("deputy-mcp");
  const config = parseConfig();
  // On stdio, stdout carries the protocol: logs and audit lines go to stderr.
  const destination = stdio ? pino.destination(2) : undefined;
  const logger = createLogger({ level: config.logLevel, name: "deputy-mcp", destination });
  const metrics = createMetrics({ processMetrics: !stdio, labels: { component: "mcp" } });
  // Policy denials and proposals in protected namespaces are counted here (bound below).
  let observeAnomalies: AuditObserver = () => {};
  const audit = createAuditLog({
    ...(config.observability.auditFile ? { file: config.observability.auditFile } : {}),
    ...(destination ? { destination } : {}),
    onRecord: [(record) => metrics.observeAudit(record), (record) => observeAnomalies(record)],
  });
  // The action key signs every proposal; over HTTP the server believes an identity only from
  // a caller holding the mcpCaller key. A local stdio server with no key source signs with a
  // key of its own: its proposals verify only in this process, never in another executor.
  const keys =
    stdio && !config.keys.fromOpenBao
      ? generateKeys(["action"])
      : await loadKeysFromConfig({
          config,
          role: config.keys.mcpAuthRole,
          purposes: http ? ["action", "mcpCaller"] : ["action"],
          component: http ? "deputy mcp --http" : "deputy mcp --stdio",
          logger,
        });
  if (stdio && !config.keys.fromOpenBao) {
    logger.warn(
      "DEPUTY_KEYS_FROM_OPENBAO is not set: proposals are signed with a key made for this process and no other executor will accept them",
    );
  }
  const closer = createCloser(() => logger);
  closer.add("tracing", () => tracing.shutdown()); // closed last: exports the spans of the rest
  const redis = createRedisClient(
    await withRedisSecrets(config, config.keys.mcpAuthRole, logger).then((c) => c.redis),
    { lazyConnect: false, maxRetriesPerRequest: 2 },
  );
  watchRedisHealth(redis, logger);
  closer.add("Redis", () =>
    redis.quit().then(
      () => undefined,
      () => undefined,
    ),
  );
  observeAnomalies = headlessAnomalyObserver({ config, redis, audit, logger, metrics });
  const deps = mcpDepsFromConfig(config, {
    logger,
    audit,
    redis,
    actionKey: requireKey(keys, "action", "deputy mcp"),
    metrics,
  });
  closer.add("the Kubernetes and preview clients", () => closeMcpDeps(deps));

  if (stdio) {
    const running = await serveStdio(deps);
    closer.add("the stdio server", () => running.close());
    await new Promise<void>((resolve) => process.stdin.once("close", resolve));
    await closer.closeAll();
    return 0;
  }
  const port = portOption(args, config.mcp.port);
  const host = option(args, "--host") ?? config.mcp.host;
  const running = await startHttpServer(deps, {
    host,
    port,
    callers: createCallerVerifier({
      key: requireKey(keys, "mcpCaller", "deputy mcp"),
      purpose: "mcp",
      redis,
      prefix: config.redis.prefix,
    }),
  });
  closer.add("the MCP HTTP server", () => running.close());
  // Proactive triage reads with this process's identity, the read-only one; what it finds is
  // queued in Redis and posted by a bot replica with SLACK_TRIAGE_CHANNEL.
  if (config.observability.watch) {
    const { startTriage } = await import("../../watcher/wiring.ts");
    const { redisTriageSink } = await import("../../core/observability/alerts.ts");
    const triage = startTriage({
      config,
      kube: deps.kube,
      redis,
      sink: redisTriageSink(redis, config.redis.prefix),
      logger,
      audit,
      metrics,
    });
    closer.add("the triage watcher", () => triage.stop({ release: true }));
  }
  // Prometheus scrapes its own port, so /mcp stays reachable only by the agent's principal.
  const metricsServer = await startMetricsServer(metrics, { host, port: config.observability.metricsPort });
  closer.add("the metrics server", () => metricsServer.close());
  process.stderr.write(
    `deputy mcp: serving ${running.url} (health: /healthz, readiness: /readyz); metrics at ${metricsServer.url}\n`,
  );
  const signal = await stopSignal();
  process.stderr.write(`deputy mcp: ${signal}, stopping\n`);
  await closer.closeAll();
  process.stderr.write("deputy mcp: stopped\n");
  return 0;
}
