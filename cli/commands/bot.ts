import { startTracing } from "../../core/observability/tracing.ts";
import { stopSignal } from "../signals.ts";
import { assertSlackConfig } from "../../bot/slack-config.ts";
import { parseConfig } from "../../core/config/config.ts";
import { createLogger } from "../../core/observability/logger.ts";

const USAGE = `Usage: deputy bot

Runs Deputy's Slack app: mentions, direct messages, /deputy and approval cards.

  Socket Mode (default, no inbound traffic): SLACK_BOT_TOKEN and SLACK_APP_TOKEN.
  HTTP mode (SLACK_SOCKET_MODE=false): SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET,
  listening on SLACK_PORT at /slack/events (health: /healthz).
  In a cluster, DEPUTY_SECRETS_FROM_OPENBAO=secret/data/deputy reads these (and
  ANTHROPIC_API_KEY) from OpenBao KV through Kubernetes auth instead.

  DEPUTY_MCP_URL / DEPUTY_EXECUTOR_URL reach the MCP server and the executor over
  HTTP; unset, both run in this process. Without ANTHROPIC_API_KEY the bot runs
  direct commands only. Probes and metrics: /healthz, /readyz and /metrics on
  DEPUTY_METRICS_PORT (all interfaces). See .env.example for every setting.
`;

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (args.length > 0) {
    process.stderr.write(`deputy bot: unexpected "${args.join(" ")}"\n\n${USAGE}`);
    return 2;
  }
  const tracing = startTracing("deputy-bot");
  const parsed = parseConfig();
  const logger = createLogger({ level: parsed.logLevel, name: "deputy-bot" });
  let config = parsed;
  if (parsed.slack.secretsFromOpenBao) {
    const { resolveBotSecrets } = await import("../../bot/secrets.ts");
    config = await resolveBotSecrets(parsed, logger);
  }
  assertSlackConfig(config.slack);
  const { botKeyClusters, botKeyPurposes } = await import("../../bot/wiring.ts");
  const { loadKeysFromConfig, withRedisSecrets } = await import("../../executor/wiring.ts");
  config = await withRedisSecrets(config, config.slack.openbaoRole, logger);
  const keys = await loadKeysFromConfig({
    config,
    role: config.slack.openbaoRole,
    purposes: botKeyPurposes(config),
    clusters: botKeyClusters(config),
    component: "deputy bot",
    logger,
  });
  // The SDKs load only once the settings are known to be complete.
  const [{ startHealthServer }, { startBot }, { createAuditLog }, { createMetrics }] = await Promise.all([
    import("../../bot/health.ts"),
    import("../../bot/wiring.ts"),
    import("../../core/audit/log.ts"),
    import("../../core/observability/metrics.ts"),
  ]);
  const metrics = createMetrics({ processMetrics: true, labels: { component: "bot" } });
  // The anomaly detector (SLACK_ALERT_CHANNEL) observes the audit log it also writes to: bound by startBot.
  let observeAnomalies: (record: Parameters<typeof metrics.observeAudit>[0]) => void = () => {};
  const audit = createAuditLog({
    ...(config.observability.auditFile ? { file: config.observability.auditFile } : {}),
    onRecord: [(record) => metrics.observeAudit(record), (record) => observeAnomalies(record)],
  });
  const bot = await startBot(config, {
    logger,
    keys,
    audit,
    metrics,
    attachAuditObserver: (observer) => {
      observeAnomalies = observer;
    },
  });
  // Kubelet probes reach the pod IP, so this port listens on all interfaces; it serves no secrets.
  const health = await startHealthServer({
    host: "0.0.0.0",
    port: config.observability.metricsPort,
    metrics,
    ready: () => bot.ready(),
  });
  process.stderr.write(
    `${bot.port === undefined ? "deputy bot: connected to Slack in Socket Mode" : `deputy bot: listening on :${bot.port}/slack/events`}; probes and metrics on :${health.port}\n`,
  );
  const signal = await stopSignal();
  process.stderr.write(`deputy bot: ${signal}, stopping\n`);
  try {
    await health.close();
    await bot.close();
  } finally {
    // Last, and even when stopping fails, so the spans of the last requests are exported.
    await tracing.shutdown();
  }
  process.stderr.write("deputy bot: stopped\n");
  return 0;
}
