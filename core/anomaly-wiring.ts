import type { Redis } from "ioredis";
import { fanOutAlertSink, loggerAlertSink, redisAlertSink } from "./alerts.ts";
import { anomalySettings, createAnomalyDetector } from "./anomaly.ts";
import type { AuditLog, AuditObserver } from "./audit.ts";
import type { Config } from "./config.ts";
import type { Logger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";

/**
 * The anomaly detector of a headless process (deputy mcp, deputy executor):
 * counts in Redis with every replica, logs each alert, and queues it for the
 * bot to post in SLACK_ALERT_CHANNEL.
 */
export function headlessAnomalyObserver(deps: {
  config: Config;
  redis: Redis;
  audit: AuditLog;
  logger: Logger;
  metrics?: Metrics;
}): AuditObserver {
  const logger = deps.logger.child({ component: "anomaly" });
  return createAnomalyDetector({
    redis: deps.redis,
    ...anomalySettings(deps.config),
    sink: fanOutAlertSink(loggerAlertSink(logger), redisAlertSink(deps.redis, deps.config.redis.prefix)),
    audit: deps.audit,
    logger,
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
  }).observer;
}
