import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { webApi } from "@slack/bolt";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { CLUSTER_WIDE } from "../../core/identity/access.ts";
import { describeError } from "../../core/errors.ts";
import { redactValue } from "../../core/untrusted/redact.ts";
import { createNamespacePolicy } from "../../core/kube/namespace-policy.ts";
import { fenceUntrusted, toolTextForPeople } from "../../core/untrusted/fence.ts";
import type { ConversationRef } from "../../core/identity/identity.ts";
import { META_KEYS } from "../../core/actions/meta.ts";
import { clusterChoiceHelp } from "../../core/config/cluster-choice.ts";
import { takeSlot } from "../../core/state/sliding-window.ts";
import type { BotServices } from "../deps.ts";
import { workspaceTeamId } from "../workspace.ts";
import { diagnosesOfTroubleshoot } from "../../core/memory/diagnosis.ts";
import { recallBlocks, recallLine } from "../blocks/memory.ts";
import {
  memoryNoteForAgent,
  noteInThread,
  recallForDiagnoses,
  type FoundFix,
} from "../memory/incident-memory.ts";
import { sanitizeForSlack, sanitizePlain, splitForSlack } from "../sanitize.ts";
import {
  alertBlocks,
  alertText,
  bearerMatches,
  channelFor,
  subjectOf,
  webhookSchema,
  type AlertmanagerAlert,
  type AlertRoute,
} from "./alertmanager.ts";

/**
 * `POST /v1/alerts`: Alertmanager's webhook receiver. Authenticated with a
 * bearer token (Alertmanager's `http_config.authorization`), compared in
 * constant time; bounded body; each alert deduplicated by its fingerprint in
 * Redis (Alertmanager repeats firing alerts every repeat_interval, and every
 * bot replica may receive them), rate-limited per channel, posted to the
 * channel its labels map to. A resolved alert updates its message. Deputy then
 * starts the investigation in the thread with its read-only diagnosis; anyone
 * can mention Deputy there to go on or to propose a fix (approved as usual).
 */
export const ALERTS_PATH = "/v1/alerts";
const MAX_BODY_BYTES = 1_000_000;

export interface AlertReceiverDeps {
  services: BotServices;
  client: webApi.WebClient;
  /** Shared secret Alertmanager sends as `Authorization: Bearer <token>`. */
  token: string;
  routes: readonly AlertRoute[];
  /** New alert messages per channel per minute; the rest wait for Alertmanager's next repeat. */
  perMinute: number;
  host: string;
  port: number;
  /** How long a fingerprint's message is remembered (default 7 days). */
  rememberSeconds?: number;
  /** The clock of the rate limit (tests). */
  now?: () => number;
}

export interface AlertReceiver {
  port: number;
  close(): Promise<void>;
}

export interface AlertBatchResult {
  posted: number;
  resolved: number;
  duplicates: number;
  rateLimited: number;
  unrouted: number;
}

interface StoredAlert {
  state: "posting" | "firing" | "resolved";
  channel?: string;
  ts?: string;
}

class BodyTooLarge extends Error {}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function send(res: ServerResponse, status: number, body: Record<string, unknown>, headers = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

export function createAlertHandler(
  deps: AlertReceiverDeps,
): (alerts: AlertmanagerAlert[]) => Promise<AlertBatchResult> {
  const { services, client } = deps;
  const remember = deps.rememberSeconds ?? 7 * 24 * 3600;
  const key = (fingerprint: string): string => `${services.redisPrefix}alertmanager:${fingerprint}`;
  const log = services.logger.child({ component: "alertmanager" });
  // Threads are keyed by workspace like every other conversation, so a mention there finds the alert.
  const teamId = workspaceTeamId(client);

  const now = deps.now ?? Date.now;
  /** At most perMinute new messages in any 60 s, per channel, across replicas. */
  async function admit(channel: string): Promise<boolean> {
    const verdict = await takeSlot(
      services.redis,
      [{ key: `${services.redisPrefix}alertmanager:rate:${channel}`, limit: deps.perMinute }],
      { windowMs: 60_000, now: now() },
    );
    return verdict.allowed;
  }

  async function claim(alert: AlertmanagerAlert): Promise<boolean> {
    const posting = JSON.stringify({ state: "posting" } satisfies StoredAlert);
    if ((await services.redis.set(key(alert.fingerprint), posting, "EX", remember, "NX")) === "OK")
      return true;
    // A resolved alert that fires again is a new incident: claim it back from "resolved" only.
    const script = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1 end return 0`;
    const resolved = await services.redis.get(key(alert.fingerprint));
    if (!resolved || (JSON.parse(resolved) as StoredAlert).state !== "resolved") return false;
    return (
      (await services.redis.eval(script, 1, key(alert.fingerprint), resolved, posting, String(remember))) ===
      1
    );
  }

  async function fire(alert: AlertmanagerAlert, channel: string, result: AlertBatchResult): Promise<void> {
    if (!(await claim(alert))) {
      result.duplicates++;
      return;
    }
    if (!(await admit(channel))) {
      // Forget the claim so Alertmanager's next repeat can post it.
      await services.redis.del(key(alert.fingerprint));
      result.rateLimited++;
      log.warn({ fingerprint: alert.fingerprint, channel }, "alert rate limit reached; not posted");
      return;
    }
    let ts: string | undefined;
    try {
      const posted = await client.chat.postMessage({
        channel,
        text: alertText(alert),
        blocks: alertBlocks(alert),
        unfurl_links: false,
        unfurl_media: false,
      });
      ts = posted.ts;
    } catch (error) {
      await services.redis.del(key(alert.fingerprint));
      throw error;
    }
    const stored: StoredAlert = { state: "firing", channel, ...(ts ? { ts } : {}) };
    await services.redis.set(key(alert.fingerprint), JSON.stringify(stored), "EX", remember);
    result.posted++;
    if (ts) {
      const startsAt = alert.startsAt && Date.parse(alert.startsAt) > 0 ? alert.startsAt : undefined;
      await noteInThread(
        services,
        { surface: "slack", channel, thread: ts },
        {
          kind: "alert",
          name: (alert.labels.alertname ?? "alert").replace(/[^A-Za-z0-9._:/@-]/g, "_").slice(0, 253),
          ...(startsAt ? { firedAt: new Date(startsAt).toISOString() } : {}),
        },
      );
    }
    if (ts) services.tasks.run("alert_diagnosis", () => startInvestigation(alert, { channel, ts }));
  }

  async function resolve(alert: AlertmanagerAlert, result: AlertBatchResult): Promise<void> {
    const raw = await services.redis.get(key(alert.fingerprint));
    const stored = raw ? (JSON.parse(raw) as StoredAlert) : undefined;
    if (stored?.state !== "firing" || !stored.channel || !stored.ts) {
      result.duplicates++;
      return;
    }
    const resolvedAt =
      alert.endsAt && !Number.isNaN(Date.parse(alert.endsAt)) && Date.parse(alert.endsAt) > 0
        ? alert.endsAt
        : new Date().toISOString();
    await client.chat.update({
      channel: stored.channel,
      ts: stored.ts,
      text: alertText(alert, resolvedAt),
      blocks: alertBlocks(alert, resolvedAt),
    });
    await client.chat.postMessage({
      channel: stored.channel,
      thread_ts: stored.ts,
      text: ":white_check_mark: Alertmanager reports this alert resolved.",
    });
    await noteInThread(
      services,
      { surface: "slack", channel: stored.channel, thread: stored.ts },
      {
        kind: "resolved",
        at: new Date(resolvedAt).toISOString(),
      },
    );
    await services.redis.set(
      key(alert.fingerprint),
      JSON.stringify({ ...stored, state: "resolved" } satisfies StoredAlert),
      "EX",
      remember,
    );
    result.resolved++;
  }

  /** Deputy's read-only diagnosis of what the alert names, in the thread and in the thread's history. */
  async function startInvestigation(
    alert: AlertmanagerAlert,
    where: { channel: string; ts: string },
  ): Promise<void> {
    const team = await teamId();
    const conversation: ConversationRef = {
      surface: "slack",
      ...(team ? { teamId: team } : {}),
      channel: where.channel,
      thread: where.ts,
    };
    const subject = subjectOf(alert);
    const notice = (text: string): Promise<unknown> =>
      client.chat
        .postMessage({ channel: where.channel, thread_ts: where.ts, text: sanitizeForSlack(text) })
        .catch(() => undefined);
    // Whoever writes alert rules writes the labels: they pick neither a cluster nor a namespace
    // this channel is not already allowed to see.
    const outside = outsideChannel(services, conversation, alert, subject);
    if (outside) {
      log.info(
        { fingerprint: alert.fingerprint, channel: where.channel },
        "alert subject outside the channel's scope",
      );
      await notice(outside);
      return;
    }
    const label = alert.labels.cluster;
    const cluster =
      label === undefined ? services.clusters.defaultFor(where.channel) : services.clusters.get(label);
    if (!cluster) {
      await client.chat
        .postMessage({
          channel: where.channel,
          thread_ts: where.ts,
          text: sanitizeForSlack(
            clusterChoiceHelp(
              services.clusters.names,
              `This alert names no cluster I serve${label === undefined ? "" : ` (its cluster label is ${label})`}, so I did not look into it. Mention me in this thread to start.`,
            ),
          ),
        })
        .catch(() => undefined);
      return;
    }
    const several = services.clusters.all.length > 1;
    let raw = "";
    let found: FoundFix | undefined;
    try {
      // Later mentions in this thread go on in the alert's cluster.
      if (several) await services.conversations.bindCluster(conversation, cluster.name);
      if (subject) {
        const { tool, ...args } = subject;
        if (several) {
          await client.chat.postMessage({
            channel: where.channel,
            thread_ts: where.ts,
            text: `Looking into this in cluster ${cluster.name}…`,
          });
        }
        const result = (await cluster.mcp.callTool(
          { name: tool, arguments: args, _meta: { [META_KEYS.conversation]: conversation } },
          undefined,
          { timeout: 60_000 },
        )) as CallToolResult;
        raw = result.content.map((item) => (item.type === "text" ? item.text : "")).join("\n");
        for (const text of splitForSlack(sanitizeForSlack(toolTextForPeople(raw)))) {
          await client.chat.postMessage({
            channel: where.channel,
            thread_ts: where.ts,
            text,
            unfurl_links: false,
            unfurl_media: false,
          });
        }
        await noteInThread(services, conversation, { kind: "answer", steps: 1 });
        // A diagnosis that matches a remembered fix says so, with the button that proposes it again.
        found =
          tool === "troubleshoot_pod" && !result.isError
            ? await recallForDiagnoses(
                services,
                conversation,
                cluster.name,
                diagnosesOfTroubleshoot(result.structuredContent),
              )
            : undefined;
        if (found) {
          const blocks = recallBlocks(found.recall, found.diagnosed.workload.kind);
          await client.chat.postMessage({
            channel: where.channel,
            thread_ts: where.ts,
            text: sanitizePlain(recallLine(found.recall)).slice(0, 2900),
            blocks,
            unfurl_links: false,
            unfurl_media: false,
          });
        }
      }
      await client.chat.postMessage({
        channel: where.channel,
        thread_ts: where.ts,
        text: subject
          ? "Mention me in this thread to dig deeper or to propose a fix; any change still needs an approver."
          : "The alert names no pod, Deployment or node I can look at. Mention me in this thread with what to check.",
      });
      // A later mention in this thread starts from the alert and the diagnosis, both as data.
      await services.conversations.appendTurn(
        conversation,
        [
          {
            role: "user",
            content: [
              {
                type: "text",
                text: [
                  "Alertmanager posted this alert in the thread:",
                  fenceUntrusted(
                    "alertmanager alert",
                    JSON.stringify(redactValue({ labels: alert.labels, annotations: alert.annotations })),
                  ),
                  ...(raw
                    ? [
                        `Deputy's read-only diagnosis (${subject?.tool}):`,
                        fenceUntrusted(subject?.tool ?? "diagnosis", raw),
                      ]
                    : []),
                  ...(found ? [memoryNoteForAgent(found)] : []),
                ].join("\n"),
              },
            ],
          },
          {
            role: "assistant",
            content: [{ type: "text", text: "Noted; the diagnosis was shown in the thread." }],
          },
        ],
        { typed: undefined, participant: "alertmanager" },
      );
    } catch (error) {
      log.warn({ err: describeError(error), fingerprint: alert.fingerprint }, "alert diagnosis failed");
      await client.chat
        .postMessage({
          channel: where.channel,
          thread_ts: where.ts,
          text: sanitizeForSlack(`I could not diagnose this alert: ${describeError(error)}`),
        })
        .catch(() => undefined);
    }
  }

  return async (alerts) => {
    const result: AlertBatchResult = { posted: 0, resolved: 0, duplicates: 0, rateLimited: 0, unrouted: 0 };
    for (const alert of alerts) {
      const channel = channelFor(alert, deps.routes);
      if (!channel) {
        result.unrouted++;
        continue;
      }
      if (alert.status === "firing") await fire(alert, channel, result);
      else await resolve(alert, result);
    }
    return result;
  };
}

/**
 * Why an alert routed to this channel must not be diagnosed here, or
 * undefined: its cluster label names a cluster this channel does not serve,
 * or its subject lies outside the channel's scope (DEPUTY_CHANNEL_NAMESPACES):
 * a namespace it does not list, or a node without `@cluster`.
 */
export function outsideChannel(
  services: Pick<BotServices, "clusters" | "access">,
  conversation: ConversationRef,
  alert: AlertmanagerAlert,
  subject: ReturnType<typeof subjectOf>,
): string | undefined {
  const label = alert.labels.cluster;
  if (label !== undefined) {
    const named = services.clusters.get(label);
    const serves =
      named !== undefined &&
      (services.clusters.all.length === 1 || named.channels.includes(conversation.channel));
    if (!serves)
      return `This alert's cluster label names a cluster this channel does not serve (${label}), so I did not look into it.`;
  }
  const scope = services.access.scopeOf(conversation);
  if (scope.kind === "refused") return `${scope.message} I did not look into this alert.`;
  if (scope.kind === "unscoped" || !subject) return undefined;
  if (subject.tool === "troubleshoot_node") {
    return scope.scope.clusterWide
      ? undefined
      : `This alert is about node ${subject.name}, and this channel's scope (DEPUTY_CHANNEL_NAMESPACES) does not include ${CLUSTER_WIDE}, so I did not look into it.`;
  }
  const policy = createNamespacePolicy({ allow: [], deny: [], scope: scope.scope });
  return policy.allows(subject.namespace)
    ? undefined
    : `This alert is about namespace ${subject.namespace}, outside this channel's scope (DEPUTY_CHANNEL_NAMESPACES), so I did not look into it.`;
}

export async function startAlertReceiver(deps: AlertReceiverDeps): Promise<AlertReceiver> {
  const handle = createAlertHandler(deps);
  const log = deps.services.logger.child({ component: "alertmanager" });
  const server: Server = createServer((req, res) => {
    const work = (async () => {
      const path = new URL(req.url ?? "/", "http://receiver").pathname;
      if (req.method === "GET" && path === "/healthz") {
        send(res, 200, { ok: true });
        return;
      }
      if (path !== ALERTS_PATH) {
        send(res, 404, { error: "not found" });
        return;
      }
      if (req.method !== "POST") {
        send(res, 405, { error: "POST only" }, { allow: "POST" });
        return;
      }
      // Authenticate before reading anything the caller sent.
      if (!bearerMatches(req.headers.authorization, deps.token)) {
        log.warn({ remote: req.socket.remoteAddress }, "alert webhook refused: bad or missing bearer token");
        send(res, 401, { error: "a valid bearer token is required" }, { "www-authenticate": "Bearer" });
        return;
      }
      let body: unknown;
      try {
        body = JSON.parse(await readBody(req));
      } catch (error) {
        if (error instanceof BodyTooLarge)
          send(res, 413, { error: `body larger than ${MAX_BODY_BYTES} bytes` });
        else send(res, 400, { error: "body is not JSON" });
        return;
      }
      const parsed = webhookSchema.safeParse(body);
      if (!parsed.success) {
        const problems = parsed.error.issues
          .slice(0, 5)
          .map((issue) => `${issue.path.join(".") || "body"}: ${issue.message}`)
          .join("; ");
        send(res, 400, { error: `not an Alertmanager webhook payload: ${problems}` });
        return;
      }
      try {
        const result = await handle(parsed.data.alerts);
        log.info(result, "alert webhook handled");
        send(res, 200, { ok: true, ...result });
      } catch (error) {
        // Alertmanager retries a failed delivery; whatever was posted is deduplicated then.
        log.error({ err: describeError(error) }, "alert webhook failed");
        send(res, 502, { error: `could not post to Slack: ${describeError(error)}` });
      }
    })();
    void deps.services.tasks.track(work);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(deps.port, deps.host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ port, path: ALERTS_PATH }, "Alertmanager webhook receiver listening");
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
