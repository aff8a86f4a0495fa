import type { webApi } from "@slack/bolt";
import {
  triageText,
  type Alert,
  type AlertSink,
  type TriageMessage,
  type TriageSink,
} from "../core/alerts.ts";
import { sanitizeForSlack, splitForSlack } from "./sanitize.ts";

/**
 * Messages nobody asked for: anomaly alerts (SLACK_ALERT_CHANNEL) and
 * proactive triage (SLACK_TRIAGE_CHANNEL). Triage quotes cluster text, which
 * is attacker-controlled: everything is sanitised like any other reply.
 */
export function slackAlertSink(client: webApi.WebClient, channel: string): AlertSink {
  return {
    async postAlert(alert: Alert): Promise<void> {
      const level = alert.severity === "critical" ? "Critical" : "Warning";
      const text = sanitizeForSlack(`:rotating_light: *${level}* (rule ${alert.rule})\n${alert.text}`);
      await client.chat.postMessage({ channel, text, unfurl_links: false, unfurl_media: false });
    },
  };
}

export function slackTriageSink(client: webApi.WebClient, channel: string): TriageSink {
  return {
    async postTriage(message: TriageMessage): Promise<void> {
      for (const text of splitForSlack(sanitizeForSlack(`:mag: ${triageText(message)}`))) {
        await client.chat.postMessage({ channel, text, unfurl_links: false, unfurl_media: false });
      }
    },
  };
}
