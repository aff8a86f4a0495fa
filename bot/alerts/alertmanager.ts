import { createHash, timingSafeEqual } from "node:crypto";
import type { types } from "@slack/bolt";
import { z } from "zod";
import { DeputyError } from "../../core/errors.ts";
import { sanitizeForSlack, sanitizePlain } from "../sanitize.ts";
import { slackDate } from "../blocks/approval-card.ts";
import { TIMELINE_ACTION_ID } from "../blocks/memory.ts";

type KnownBlock = types.KnownBlock;

/**
 * Alertmanager's webhook payload (version 4), its routing to a Slack channel,
 * and the triage message it becomes. Labels and annotations are written by
 * whoever writes alert rules and by the workloads they describe: they are
 * untrusted text, bounded here and sanitised like any cluster text.
 */
const labelMap = z
  .record(z.string().max(256), z.string().max(4096))
  .refine((map) => Object.keys(map).length <= 64, { message: "too many labels" });

export const alertSchema = z.object({
  status: z.enum(["firing", "resolved"]),
  labels: labelMap,
  annotations: labelMap.default({}),
  startsAt: z.string().max(64).optional(),
  endsAt: z.string().max(64).optional(),
  generatorURL: z.string().max(2048).optional(),
  fingerprint: z.string().regex(/^[0-9a-f]{1,64}$/, "fingerprint must be Alertmanager's hex fingerprint"),
});
export type AlertmanagerAlert = z.infer<typeof alertSchema>;

export const webhookSchema = z.object({
  version: z.string().max(8),
  status: z.enum(["firing", "resolved"]),
  receiver: z.string().max(256).optional(),
  externalURL: z.string().max(2048).optional(),
  alerts: z.array(alertSchema).min(1).max(200),
});
export type AlertmanagerWebhook = z.infer<typeof webhookSchema>;

/** `label=value:channel` pairs, first match wins; `*:channel` catches the rest. */
export interface AlertRoute {
  label: string;
  value: string;
  channel: string;
}

const CHANNEL = /^[CG][A-Z0-9]{2,30}$/;

export function parseAlertRoutes(entries: readonly string[], fallback: string | undefined): AlertRoute[] {
  const routes = entries.map((entry) => {
    const match = /^(?:([A-Za-z_][A-Za-z0-9_]*)=([^:=,]+)|\*):([A-Z0-9]+)$/.exec(entry.trim());
    if (!match || !CHANNEL.test(match[3]!)) {
      throw new DeputyError(
        "CONFIG_INVALID",
        `DEPUTY_ALERT_ROUTES: "${entry}" is not "label=value:CHANNELID" or "*:CHANNELID" (e.g. namespace=shop:C0123ABCD)`,
      );
    }
    return match[1]
      ? { label: match[1], value: match[2]!, channel: match[3]! }
      : { label: "*", value: "*", channel: match[3]! };
  });
  if (fallback) {
    if (!CHANNEL.test(fallback))
      throw new DeputyError("CONFIG_INVALID", `SLACK_TRIAGE_CHANNEL "${fallback}" is not a channel id`);
    routes.push({ label: "*", value: "*", channel: fallback });
  }
  return routes;
}

export function channelFor(alert: AlertmanagerAlert, routes: readonly AlertRoute[]): string | undefined {
  return routes.find((route) => route.label === "*" || alert.labels[route.label] === route.value)?.channel;
}

/** Constant-time check of `Authorization: Bearer <token>`. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer ([^\s]+)$/.exec(header ?? "")?.[1];
  if (!given) return false;
  const digest = (value: string): Buffer => createHash("sha256").update(value).digest();
  return timingSafeEqual(digest(given), digest(token));
}

/** What Deputy can diagnose from an alert's labels: a pod, a Deployment, or a node. */
export function subjectOf(
  alert: AlertmanagerAlert,
):
  | { tool: "troubleshoot_pod"; namespace: string; name: string }
  | { tool: "troubleshoot_node"; name: string }
  | undefined {
  const { namespace, pod, deployment, node, instance } = alert.labels;
  const name = pod ?? deployment;
  const k8sName = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
  if (namespace && name && k8sName.test(namespace) && k8sName.test(name))
    return { tool: "troubleshoot_pod", namespace, name };
  const nodeName = node ?? (alert.labels.alertname?.startsWith("KubeNode") ? instance : undefined);
  if (nodeName && k8sName.test(nodeName)) return { tool: "troubleshoot_node", name: nodeName };
  return undefined;
}

function title(alert: AlertmanagerAlert): string {
  const where = [alert.labels.namespace, alert.labels.pod ?? alert.labels.deployment ?? alert.labels.node]
    .filter(Boolean)
    .join("/");
  return `${alert.labels.alertname ?? "Alert"}${where ? ` ${where}` : ""}`;
}

/** The triage message for an alert; `resolvedAt` marks it resolved (the same message, updated). */
export function alertBlocks(alert: AlertmanagerAlert, resolvedAt?: string): KnownBlock[] {
  const severity = alert.labels.severity ?? "none";
  const head = resolvedAt
    ? `:white_check_mark: *Resolved*: ${sanitizePlain(title(alert))}`
    : `${severity === "critical" ? ":red_circle:" : ":large_orange_circle:"} *Firing*: ${sanitizePlain(title(alert))}`;
  const summary = alert.annotations.summary ?? alert.annotations.description ?? "";
  const labels = Object.entries(alert.labels)
    .filter(([key]) => !["alertname"].includes(key))
    .slice(0, 12)
    .map(([key, value]) => `${key}=${value}`)
    .join(", ");
  const blocks: KnownBlock[] = [{ type: "section", text: { type: "mrkdwn", text: head.slice(0, 2900) } }];
  if (summary) {
    blocks.push({
      type: "section",
      text: { type: "mrkdwn", text: sanitizeForSlack(summary).slice(0, 2900) },
    });
  }
  blocks.push({
    type: "context",
    elements: [
      {
        type: "mrkdwn",
        text: [
          `severity ${sanitizePlain(severity)}`,
          alert.startsAt && !Number.isNaN(Date.parse(alert.startsAt))
            ? `since ${slackDate(alert.startsAt)}`
            : undefined,
          resolvedAt ? `resolved ${slackDate(resolvedAt)}` : undefined,
          labels ? `\`${sanitizePlain(labels).replace(/`/g, "'").slice(0, 1500)}\`` : undefined,
          `fingerprint \`${alert.fingerprint}\``,
        ]
          .filter(Boolean)
          .join(" · "),
      },
    ],
  });
  if (resolvedAt) {
    // For the postmortem: the thread's timeline as a file (the click's own thread, not a value).
    blocks.push({
      type: "actions",
      block_id: "deputy_alert_resolved",
      elements: [
        {
          type: "button",
          action_id: TIMELINE_ACTION_ID,
          text: { type: "plain_text", text: "Timeline", emoji: true },
          value: "timeline",
        },
      ],
    });
  }
  return blocks;
}

export function alertText(alert: AlertmanagerAlert, resolvedAt?: string): string {
  return sanitizePlain(`${resolvedAt ? "Resolved" : "Firing"}: ${title(alert)}`).slice(0, 300);
}
