import type { Redis } from "ioredis";
import type { Logger } from "./logger.ts";
import { drainQueue, pushToQueue, type QueueDrain } from "../state/queue.ts";

/**
 * Where Deputy's unprompted messages go. The Slack app implements these for a
 * configured channel (SLACK_ALERT_CHANNEL, SLACK_TRIAGE_CHANNEL) and the local
 * console for its event feed; the logger sinks below serve headless processes.
 * Texts are plain sentences; cluster-sourced text inside them is untrusted
 * and must be sanitised by the surface that renders it.
 */

export type AlertSeverity = "warning" | "critical";

export interface Alert {
  /** Stable rule id: "delete-burst", "denial-burst", "protected-namespace-write". */
  rule: string;
  severity: AlertSeverity;
  /** One or two plain sentences for people. */
  text: string;
  /** True when this alert paused new write approvals cluster-wide. */
  writesPaused: boolean;
  at: string;
  /** Machine-readable facts: counts, threshold, window, latest action. */
  payload?: Record<string, unknown>;
}

export interface AlertSink {
  postAlert(alert: Alert): Promise<void>;
}

export type TriageReason = "crash-loop" | "oom-killed" | "image-pull" | "unschedulable" | "node-not-ready";

export interface TriageObjectRef {
  /** The workload the problem belongs to: Deployment, StatefulSet, DaemonSet, Job, Pod or Node. */
  kind: string;
  namespace?: string;
  name: string;
  /** The pod (or node) that showed the problem. */
  pod?: string;
}

export interface TriageMessage {
  reason: TriageReason;
  object: TriageObjectRef;
  /** One line: "shop/checkout (Deployment) is in CrashLoopBackOff". */
  title: string;
  /** The rule-based diagnosis; may quote cluster text (untrusted). */
  diagnosis: string;
  /** The agent's analysis, when an LLM is configured and answered in time. */
  analysis?: string;
  /** The cluster the watcher saw it in (DEPUTY_CLUSTER_NAME of the watching process). */
  cluster?: string;
  at: string;
  payload?: Record<string, unknown>;
}

export interface TriageSink {
  postTriage(message: TriageMessage): Promise<void>;
}

/** Alerts as warn lines, for processes without Slack or a console. */
export function loggerAlertSink(logger: Logger): AlertSink {
  return {
    async postAlert(alert) {
      logger.warn({ alert }, alert.text);
    },
  };
}

export function loggerTriageSink(logger: Logger): TriageSink {
  return {
    async postTriage(message) {
      logger.info({ triage: { reason: message.reason, object: message.object } }, message.title);
    },
  };
}

/** Text rendering shared by surfaces that show a triage as one message. */
export function triageText(message: TriageMessage): string {
  // Named like the anomaly alerts: one channel may receive the triage of several clusters.
  const where = message.cluster ? `[cluster ${message.cluster}] ` : "";
  const parts = [`${where}${message.title}`, "", message.diagnosis];
  if (message.analysis) parts.push("", "Analysis:", message.analysis);
  return parts.join("\n");
}

/**
 * Alerts handed between processes through Redis: the MCP server and the
 * executor (which see policy denials and executions) push, and whichever bot
 * replica pops an alert posts it to Slack, so each alert is posted once.
 */
export function alertQueueKey(prefix: string): string {
  return `${prefix}alerts:queue`;
}

export function redisAlertSink(redis: Redis, prefix: string): AlertSink {
  return { postAlert: (alert) => pushToQueue(redis, alertQueueKey(prefix), alert) };
}

/** Alerts to every sink; one failing sink does not stop the others. */
export function fanOutAlertSink(...sinks: AlertSink[]): AlertSink {
  return {
    async postAlert(alert) {
      const results = await Promise.allSettled(sinks.map((sink) => sink.postAlert(alert)));
      const failed = results.find((result) => result.status === "rejected");
      if (failed) throw failed.reason;
    },
  };
}

export type AlertDrain = QueueDrain;

/** Pop queued alerts (blocking, on its own connection) and post them to `sink` until closed. */
export function drainAlertQueue(options: {
  redis: Redis;
  prefix: string;
  sink: AlertSink;
  logger: Logger;
}): AlertDrain {
  return drainQueue({
    redis: options.redis,
    key: alertQueueKey(options.prefix),
    deliver: (item) => options.sink.postAlert(item as Alert),
    logger: options.logger,
    what: "alert",
  });
}

/**
 * Triage handed between processes the same way: the watcher runs where the
 * read identity is (`deputy mcp --http` with DEPUTY_WATCH), and a bot
 * replica with SLACK_TRIAGE_CHANNEL pops each message and posts it once.
 */
export function triageQueueKey(prefix: string): string {
  return `${prefix}triage:queue`;
}

export function redisTriageSink(redis: Redis, prefix: string): TriageSink {
  return { postTriage: (message) => pushToQueue(redis, triageQueueKey(prefix), message) };
}

/** Pop queued triage messages (blocking, on its own connection) and post them to `sink` until closed. */
export function drainTriageQueue(options: {
  redis: Redis;
  prefix: string;
  sink: TriageSink;
  logger: Logger;
}): QueueDrain {
  return drainQueue({
    redis: options.redis,
    key: triageQueueKey(options.prefix),
    deliver: (item) => options.sink.postTriage(item as TriageMessage),
    logger: options.logger,
    what: "triage",
  });
}
