import { inSpan, SpanKind } from "../core/observability/tracing.ts";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { App, HTTPReceiver, type webApi } from "@slack/bolt";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { Redis } from "ioredis";
import type { AuditLog } from "../core/audit/log.ts";
import type { Config } from "../core/config/config.ts";
import { DEFAULT_CLUSTER_NAME } from "../core/config/clusters.ts";
import { describeError } from "../core/errors.ts";
import type { Logger } from "../core/observability/logger.ts";
import { createRequesterAccess } from "./access.ts";
import { channelHasMember } from "./channel-members.ts";
import { createAgentUsageLimit, type ConversationLimits } from "./agent/usage-limit.ts";
import { approverMention, createUserGroupChecker, type UserGroupChecker } from "./approvers.ts";
import { DEFAULT_POLICY_SOURCE, type ApprovalPolicy } from "../core/actions/approval-policy.ts";
import type { Identity } from "../core/identity/identity.ts";
import { createBackgroundTasks } from "./background.ts";
import { createCardTracker } from "./card-tracker.ts";
import { servedClusters, type ServedCluster } from "./clusters.ts";
import { createConversationStore } from "./conversation-store.ts";
import { createDeduper } from "./dedupe.ts";
import {
  DEFAULT_FOLLOW_UP,
  type AgentRunner,
  type ApprovalDecider,
  type BotServices,
  type FollowUpSettings,
} from "./deps.ts";
import * as actions from "./listeners/actions/index.ts";
import * as commands from "./listeners/commands/index.ts";
import * as events from "./listeners/events/index.ts";
import * as shortcuts from "./listeners/shortcuts/index.ts";
import * as dedupeEvents from "./listeners/middleware/dedupe-events.ts";
import { sweepExpiredCards } from "./handlers/expiry.ts";
import { adoptOrphanedTurns } from "./handlers/adopt-turns.ts";
import { createTurnLeases } from "./turn-lease.ts";
import { deliverActionNotice } from "./handlers/action-notice.ts";
import { drainActionNotices } from "../core/actions/notices.ts";
import type { QueueDrain } from "../core/state/queue.ts";
import { assertSlackConfig, requiredSetting } from "./slack-config.ts";
import { boltLogger } from "./slack-logger.ts";
import { measureAcks } from "./ack-timing.ts";
import { refuseFutureRequests } from "./slack-timestamp.ts";
import { createWritePauseControl } from "./write-pause.ts";
import type { Metrics } from "../core/observability/metrics.ts";
import type { ActionStore } from "../core/actions/store.ts";
import { isAuthorisedApprover } from "../executor/approval-executor.ts";
import { createIncidentMemory, type IncidentMemory } from "./memory/incident-memory.ts";

export { assertSlackConfig };

/**
 * Deputy's Slack app (@slack/bolt). Socket Mode by default (no inbound
 * traffic: the right default for a private network), HTTP mode behind an
 * ingress. Every listener acknowledges first and continues in the background;
 * `SLACK_API_URL` points the Web API (and Socket Mode's connection call) at
 * another base URL.
 */
/**
 * The clusters served: one, as its MCP client and executor (named
 * `clusterName`, default `local`), or several, each with its own.
 */
export type SlackAppClusters =
  | {
      /** Connected to Deputy's MCP server (in-memory or Streamable HTTP). */
      mcp: Client;
      decider: ApprovalDecider;
      clusterName?: string;
      clusters?: undefined;
    }
  | { clusters: readonly ServedCluster[]; mcp?: undefined; decider?: undefined; clusterName?: undefined };

export type SlackAppDeps = SlackAppSettings & SlackAppClusters;

interface SlackAppSettings {
  slack: Config["slack"];
  approvals: Pick<Config["approvals"], "approvers" | "approverGroup">;
  /** The approval policy (DEPUTY_APPROVAL_POLICY), for the cards; the executor enforces its own copy. */
  approvalPolicy?: ApprovalPolicy;
  /** Who may ask, from where (DEPUTY_ALLOWED_CHANNELS, …); default: any channel, no DMs. */
  access?: Config["access"];
  /** Refusals, resumes and the cards the bot updates on its own (expiry sweep) are audited here. */
  audit?: AuditLog;
  redisPrefix: string;
  redis: Redis;
  logger: Logger;
  /** Undefined when no model is configured: direct commands only. */
  agent: AgentRunner | undefined;
  /** Stored actions (verified with the action key): cards are rendered from these. */
  actions: ActionStore;
  /** Slack acknowledgement latency (and, when given, agent turn admissions) are observed here. */
  metrics?: Pick<Metrics, "observeSlackAck"> & Partial<Pick<Metrics, "agentAdmission">>;
  /** Per person and cluster, per hour: agent turns and model tokens; default: no limit. */
  conversationLimits?: ConversationLimits;
  /** Spacing of progress edits; default 1 s. */
  statusIntervalMs?: number;
  /**
   * How long a turn's lease on its thread lasts unless renewed (every third of it);
   * a stopped replica's turn is adopted after it lapses. Default 30 s.
   */
  turnLeaseMs?: number;
  /** How often stopped replicas' turns are looked for; default 10 s (0: never, tests call adoptTurns). */
  turnSweepMs?: number;
  /** How often expired cards are looked for; default 30 s (0: never, tests call sweepExpiredCards). */
  cardSweepMs?: number;
  /** How executed actions are watched afterwards (DEPUTY_VERIFY_TIMEOUT_SECONDS). */
  followUp?: Partial<FollowUpSettings>;
  /** How long fixes and thread records are remembered (DEPUTY_MEMORY_RETENTION_DAYS); default 90 days, 0: off. */
  memoryRetentionSeconds?: number;
}

export interface SlackApp {
  app: App;
  client: webApi.WebClient;
  /** What the listeners share, for receivers outside Bolt (the Alertmanager webhook). */
  services: BotServices;
  /** Membership of the approver user group, for the executor (undefined without a group). */
  isInGroup: UserGroupChecker | undefined;
  /** Membership of any user group (the approval policy's), asked of Slack, briefly cached. */
  isMemberOf: (identity: Identity, group: string) => Promise<boolean>;
  /** Listening port in HTTP mode. */
  start(): Promise<{ port: number | undefined }>;
  stop(): Promise<void>;
  /** Resolves when all acknowledged work has finished. */
  idle(): Promise<void>;
  /** Mark cards of expired actions; returns how many. */
  sweepExpiredCards(now?: number): Promise<number>;
  /** Adopt the turns of replicas that stopped mid-turn; returns how many. */
  adoptTurns(): Promise<number>;
  stats: { retries: number; duplicates: number };
}

export const EVENTS_PATH = "/slack/events";

export function createSlackApp(deps: SlackAppDeps): SlackApp {
  const { slack, logger } = deps;
  const clusters = servedClusters(
    deps.clusters ?? [
      { name: deps.clusterName ?? DEFAULT_CLUSTER_NAME, mcp: deps.mcp, decider: deps.decider, channels: [] },
    ],
  );
  assertSlackConfig(slack);
  const token = requiredSetting(slack.botToken, "SLACK_BOT_TOKEN", "to run the Slack app");
  const clientOptions = slack.apiUrl
    ? { slackApiUrl: slack.apiUrl.endsWith("/") ? slack.apiUrl : `${slack.apiUrl}/` }
    : {};
  const sdkLogger = boltLogger(logger);

  let receiver: HTTPReceiver | undefined;
  let app: App;
  if (slack.socketMode) {
    const appToken = requiredSetting(
      slack.appToken,
      "SLACK_APP_TOKEN",
      "in Socket Mode (or set SLACK_SOCKET_MODE=false)",
    );
    app = new App({ token, appToken, socketMode: true, logger: sdkLogger, clientOptions });
  } else {
    const signingSecret = requiredSetting(slack.signingSecret, "SLACK_SIGNING_SECRET", "in HTTP mode");
    receiver = new HTTPReceiver({
      signingSecret,
      endpoints: EVENTS_PATH,
      logger: sdkLogger,
      customRoutes: [
        {
          path: "/healthz",
          method: ["GET"],
          handler: (_req, res) => {
            res.writeHead(200, { "content-type": "text/plain" });
            res.end("ok");
          },
        },
      ],
    });
    refuseFutureRequests(receiver, logger);
    app = new App({ token, receiver, logger: sdkLogger, clientOptions });
  }

  if (deps.metrics) measureAcks(app, deps.metrics);

  const tasks = createBackgroundTasks(logger);
  const group = deps.approvals.approverGroup;
  const isInGroup = group ? createUserGroupChecker(app.client, group) : undefined;
  // Judged at the click: a short cache, so an on-call hand-over counts within seconds.
  const policyGroupCheckers = new Map<string, UserGroupChecker>();
  const isMemberOf = (identity: Identity, groupId: string): Promise<boolean> => {
    let checker = policyGroupCheckers.get(groupId);
    if (!checker) {
      checker = createUserGroupChecker(app.client, groupId, 5_000);
      policyGroupCheckers.set(groupId, checker);
    }
    return checker(identity);
  };
  const access = deps.access ?? {
    channels: [],
    requesterGroup: undefined,
    allowDirectMessages: false,
    channelNamespaces: {},
  };
  const services: BotServices = {
    logger,
    clusters,
    agent: deps.agent,
    actions: deps.actions,
    audit: deps.audit,
    conversations: createConversationStore(deps.redis, {
      prefix: deps.redisPrefix,
      ttlSeconds: slack.conversationTtlSeconds,
    }),
    deduper: createDeduper(deps.redis, { prefix: deps.redisPrefix }),
    cards: createCardTracker(deps.redis, { prefix: deps.redisPrefix }),
    tasks,
    approverMention: approverMention(deps.approvals.approvers, deps.approvals.approverGroup),
    approvalPolicy:
      deps.approvalPolicy && deps.approvalPolicy.source !== DEFAULT_POLICY_SOURCE
        ? { policy: deps.approvalPolicy, isMemberOf }
        : undefined,
    access: createRequesterAccess({
      access,
      isInRequesterGroup: access.requesterGroup
        ? createUserGroupChecker(app.client, access.requesterGroup)
        : undefined,
      isChannelMember: (channel, user) => channelHasMember(app.client, channel, user),
      audit: deps.audit,
    }),
    writePause: createWritePauseControl({
      redis: deps.redis,
      prefix: deps.redisPrefix,
      clusterNames: clusters.names,
      approvals: deps.approvals,
      isInGroup,
      audit: deps.audit,
    }),
    statusIntervalMs: deps.statusIntervalMs ?? 1000,
    turns: createTurnLeases(deps.redis, { prefix: deps.redisPrefix, ttlMs: deps.turnLeaseMs ?? 30_000 }),
    followUp: {
      ...DEFAULT_FOLLOW_UP,
      timeoutMs: slack.verifyTimeoutSeconds * 1000,
      ...deps.followUp,
    },
    redis: deps.redis,
    redisPrefix: deps.redisPrefix,
    memory: memoryOf(deps),
    agentLimit: deps.conversationLimits
      ? createAgentUsageLimit({
          redis: deps.redis,
          prefix: deps.redisPrefix,
          limits: deps.conversationLimits,
          metrics: deps.metrics?.agentAdmission ? { agentAdmission: deps.metrics.agentAdmission } : undefined,
        })
      : undefined,
    isApprover: (identity) =>
      isAuthorisedApprover(
        {
          slackUserIds: deps.approvals.approvers,
          group: deps.approvals.approverGroup,
          isInGroup,
          localApproverIds: [],
        },
        identity,
      ),
  };
  const stats = { retries: 0, duplicates: 0 };

  // Everything Bolt does after the ack counts as running work for idle()/stop().
  // Each Slack request is the root span of its trace (core/observability/tracing.ts).
  app.use(async ({ next, body }) => {
    await tasks.track(inSpan(`slack ${slackRequestKind(body)}`, { kind: SpanKind.SERVER }, () => next()));
  });
  dedupeEvents.register(app, services, stats);
  events.register(app, services);
  commands.register(app, services);
  actions.register(app, services);
  shortcuts.register(app, services);
  app.error(async (error) => {
    logger.error({ err: describeError(error) }, "Slack listener error");
  });

  const sweepMs = deps.cardSweepMs ?? 30_000;
  let sweeper: NodeJS.Timeout | undefined;
  let notices: QueueDrain | undefined;
  const sweep = (now?: number): Promise<number> => tasks.track(sweepExpiredCards(services, app.client, now));
  const turnSweepMs = deps.turnSweepMs ?? 10_000;
  let turnSweeper: NodeJS.Timeout | undefined;
  const adoptTurns = (): Promise<number> => tasks.track(adoptOrphanedTurns(services, app.client));
  return {
    app,
    client: app.client,
    services,
    isInGroup,
    isMemberOf,
    stats,
    sweepExpiredCards: sweep,
    adoptTurns,
    async start() {
      if (turnSweepMs > 0) {
        turnSweeper = setInterval(() => {
          adoptTurns().catch((error: unknown) =>
            logger.warn({ err: describeError(error) }, "looking for stopped replicas' turns failed"),
          );
        }, turnSweepMs);
        turnSweeper.unref();
      }
      if (sweepMs > 0) {
        sweeper = setInterval(() => {
          sweep().catch((error: unknown) => logger.warn({ err: describeError(error) }, "card sweep failed"));
        }, sweepMs);
        sweeper.unref();
      }
      // What became of actions decided earlier (an interrupted run), from any executor.
      notices = drainActionNotices({
        redis: deps.redis,
        prefix: deps.redisPrefix,
        deliver: (notice) => tasks.track(deliverActionNotice(services, app.client, notice)),
        logger,
      });
      if (!receiver) {
        await app.start();
        logger.info("Slack app connected in Socket Mode");
        return { port: undefined };
      }
      const server = (await app.start(slack.port)) as Server;
      const port = (server.address() as AddressInfo | null)?.port;
      logger.info({ port, path: EVENTS_PATH }, "Slack app listening (HTTP mode)");
      return { port };
    },
    async stop() {
      if (sweeper) clearInterval(sweeper);
      if (turnSweeper) clearInterval(turnSweeper);
      await notices?.close();
      await app.stop();
      await tasks.idle();
    },
    idle: () => tasks.idle(),
  };
}

function memoryOf(deps: SlackAppDeps): IncidentMemory | undefined {
  const retentionSeconds = deps.memoryRetentionSeconds ?? 90 * 24 * 3600;
  if (retentionSeconds <= 0) return undefined;
  return createIncidentMemory(deps.redis, { prefix: deps.redisPrefix, retentionSeconds });
}

function slackRequestKind(body: unknown): string {
  const request = body as { type?: unknown; event?: { type?: unknown }; command?: unknown };
  const kind = request.event?.type ?? request.type ?? (request.command === undefined ? "request" : "command");
  return typeof kind === "string" ? kind : "request";
}
