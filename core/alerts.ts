import type { Logger } from "./logger.ts";

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
  const parts = [message.title, "", message.diagnosis];
  if (message.analysis) parts.push("", "Analysis:", message.analysis);
  return parts.join("\n");
}
