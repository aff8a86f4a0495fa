import type { types, webApi } from "@slack/bolt";
import {
  triageText,
  type Alert,
  type AlertSink,
  type TriageMessage,
  type TriageSink,
} from "../core/observability/alerts.ts";
import { conversationScope } from "../core/identity/access.ts";
import type { Config } from "../core/config/config.ts";
import { createNamespacePolicy } from "../core/kube/namespace-policy.ts";
import { sanitizeForSlack, splitForSlack } from "./sanitize.ts";

/**
 * Messages nobody asked for: anomaly alerts (SLACK_ALERT_CHANNEL) and
 * proactive triage (SLACK_TRIAGE_CHANNEL). Triage quotes cluster text, which
 * is attacker-controlled: everything is sanitised like any other reply.
 */
type KnownBlock = types.KnownBlock;

export const RESUME_WRITES_ACTION_ID = "deputy_resume_writes";

/** An alert as Block Kit; one that paused writes carries the button that resumes them. */
export function alertBlocks(alert: Alert, text: string): KnownBlock[] {
  const blocks: KnownBlock[] = [{ type: "section", text: { type: "mrkdwn", text } }];
  if (alert.writesPaused) {
    blocks.push({
      type: "actions",
      block_id: "write_pause",
      elements: [
        {
          type: "button",
          action_id: RESUME_WRITES_ACTION_ID,
          text: { type: "plain_text", text: "Resume writes" },
          style: "danger",
          value: "resume",
          confirm: {
            title: { type: "plain_text", text: "Resume write approvals?" },
            text: {
              type: "mrkdwn",
              text: "Approvals will run again cluster-wide. Only approvers can do this.",
            },
            confirm: { type: "plain_text", text: "Resume" },
            deny: { type: "plain_text", text: "Cancel" },
          },
        },
      ],
    });
  }
  return blocks;
}

export function slackAlertSink(client: webApi.WebClient, channel: string): AlertSink {
  return {
    async postAlert(alert: Alert): Promise<void> {
      const level = alert.severity === "critical" ? "Critical" : "Warning";
      const text = sanitizeForSlack(`:rotating_light: *${level}* (rule ${alert.rule})\n${alert.text}`);
      await client.chat.postMessage({
        channel,
        text,
        blocks: alertBlocks(alert, text),
        unfurl_links: false,
        unfurl_media: false,
      });
    },
  };
}

/**
 * Whether a triage message may be posted in a channel of this scope
 * (DEPUTY_CHANNEL_NAMESPACES): a namespaced problem inside its namespaces, a
 * node's only where the scope says @cluster; nothing in a channel that has
 * no scope while others do. The same rule as a question or an alert there.
 */
export function triageScopeFilter(
  access: Pick<Config["access"], "channelNamespaces">,
  channel: string,
): (message: TriageMessage) => boolean {
  const verdict = conversationScope(access, { surface: "slack", channel, thread: "triage" });
  if (verdict.kind === "unscoped") return () => true;
  if (verdict.kind === "refused") return () => false;
  const policy = createNamespacePolicy({ allow: [], deny: [], scope: verdict.scope });
  return (message) =>
    message.object.namespace === undefined
      ? verdict.scope.clusterWide
      : policy.allows(message.object.namespace);
}

export function slackTriageSink(
  client: webApi.WebClient,
  channel: string,
  /** Several clusters served: a thread on a triage message goes on in the cluster it names. */
  bindThread?: (ts: string, cluster: string) => Promise<void>,
  /** What this channel may see (triageScopeFilter); a message outside it is dropped. */
  inScope: (message: TriageMessage) => boolean = () => true,
  /** A fix remembered for the finding's cause, posted in its thread (bot/memory/triage-recall.ts). */
  recall?: (message: TriageMessage, where: { channel: string; ts: string }) => Promise<void>,
): TriageSink {
  return {
    async postTriage(message: TriageMessage): Promise<void> {
      if (!inScope(message)) return;
      let first: string | undefined;
      for (const text of splitForSlack(sanitizeForSlack(`:mag: ${triageText(message)}`))) {
        const posted = await client.chat.postMessage({
          channel,
          text,
          unfurl_links: false,
          unfurl_media: false,
        });
        first ??= posted.ts;
        // Posted already: a failed binding only means a mention there must name the cluster.
        if (bindThread && posted.ts && message.cluster)
          await bindThread(posted.ts, message.cluster).catch(() => undefined);
      }
      // Posted already: a recall that fails only leaves the finding without it.
      if (recall && first) await recall(message, { channel, ts: first }).catch(() => undefined);
    },
  };
}
