import type { Redis } from "ioredis";
import {
  createSlackApp,
  EVENTS_PATH,
  type SlackApp,
  type SlackAppClusters,
  type SlackAppDeps,
} from "../../../bot/app.ts";
import { createAnthropicModel } from "../../../bot/agent/model.ts";
import { createAgentRunner } from "../../../bot/agent/run-agent-turn.ts";
import type { AgentRunner, ApprovalDecider } from "../../../bot/deps.ts";
import { createActionStore, type ActionStore } from "../../../core/actions/store.ts";
import type { Metrics } from "../../../core/observability/metrics.ts";
import type { ApprovalPolicy } from "../../../core/actions/approval-policy.ts";
import type { Identity } from "../../../core/identity/identity.ts";
import { redisAlertSink, type AlertSink } from "../../../core/observability/alerts.ts";
import { parseConfig, type Config } from "../../../core/config/config.ts";
import type { Logger } from "../../../core/observability/logger.ts";
import type { CredentialBrokerOptions } from "../../../executor/credential-broker.ts";
import {
  capture,
  connectRedis,
  dropPrefix,
  testPrefix,
  testSigner,
  type Captured,
} from "../../executor/support.ts";
import { prepareWriteEnv } from "../../executor/write-env.ts";
import { writeExecutor } from "../../executor/write-fixture.ts";
import { startAnthropicFake, type AnthropicFake } from "../../fakes/anthropic.ts";
import { startSlackFake, type SlackFake, type SlackFakeOptions } from "../../fakes/slack.ts";
import { startHarness, type Harness } from "../../mcp/harness.ts";

/** The settings that point a bot at the Slack fake over HTTP (any free port). */
export function slackFakeEnv(slack: SlackFake): Record<string, string> {
  return {
    SLACK_BOT_TOKEN: slack.botToken,
    SLACK_SIGNING_SECRET: slack.signingSecret,
    SLACK_SOCKET_MODE: "false",
    SLACK_API_URL: slack.apiUrl,
    SLACK_PORT: "0",
  };
}

/** The real agent loop and Anthropic SDK, talking to the scripted model (at `baseUrl`, e.g. through a proxy). */
export function scriptedAgent(model: AnthropicFake, logger: Logger, baseUrl = model.url): AgentRunner {
  return createAgentRunner({
    model: createAnthropicModel({ apiKey: model.apiKey, baseUrl }),
    modelName: "claude-test",
    limits: { maxIterations: 8, maxSeconds: 60, maxTokens: 200_000, maxOutputTokens: 1024 },
    logger,
  });
}

/** Who decides on approvals: the real executor, or a stand-in where no decision may happen. */
export type BotDecisions =
  | {
      /**
       * The real executor with OpenBao just-in-time credentials against the
       * test API server, set up on first use: these Slack users may approve.
       */
      executor: {
        approvers: readonly string[];
        onCredential?: CredentialBrokerOptions["onCredential"];
      };
      decider?: undefined;
    }
  | { decider: ApprovalDecider; executor?: undefined };

export type BotOverFakesOptions = BotDecisions & {
  /** Names the Redis key prefix of the run. */
  name: string;
  /** The bot's settings beyond the Slack fake's: approvers, access rules. */
  env?: Record<string, string>;
  /** The MCP server's settings beyond its key prefix and a rate limit no test reaches. */
  mcpEnv?: Record<string, string>;
  /** The Slack fake's workspace (user groups, channel members). */
  slack?: SlackFakeOptions;
  /** false: no model configured, direct commands only. Default: the real agent loop. */
  agent?: boolean;
  followUp?: SlackAppDeps["followUp"];
  cardSweepMs?: number;
  /** Where the bot reports acks and agent turn admissions (the /metrics registry). */
  metrics?: Metrics;
  /** An approval policy file's rules, for the bot's cards and the real executor alike. */
  policy?: ApprovalPolicy;
};

export interface BotOverFakes {
  /** The real Bolt app over HTTP, the Slack fake's events target. */
  bot: SlackApp;
  slack: SlackFake;
  /** Scripted; the bot talks to it unless started with `agent: false`. */
  model: AnthropicFake;
  /** Deputy's MCP server (read identity, real API server); the bot's MCP client is its client. */
  harness: Harness;
  redis: Redis;
  prefix: string;
  /** The action store the MCP server writes, the bot renders and the executor runs from. */
  store: ActionStore;
  /** The bot's and the executor's logs and audit records. */
  captured: Captured;
  /** The decider, ready (the real executor's write namespaces and OpenBao roles are prepared). */
  executor(): Promise<ApprovalDecider>;
  /** Stop the bot and what it talks to, and drop the run's Redis keys. */
  close(): Promise<void>;
}

/**
 * Deputy's Slack app with everything real but Slack and the model: signed
 * requests from the Slack fake, the agent loop and Anthropic SDK against the
 * scripted model, Deputy's MCP server against the real API server, real
 * Redis under a prefix of its own, and the decider asked for. Whatever
 * started is stopped again if a later part fails to start.
 */
export async function startBotOverFakes(options: BotOverFakesOptions): Promise<BotOverFakes> {
  const closers: (() => Promise<unknown>)[] = [];
  const close = async (): Promise<void> => {
    for (const closer of closers.splice(0).reverse()) await closer();
  };
  try {
    const redis = connectRedis();
    const prefix = testPrefix(options.name);
    closers.push(async () => {
      await dropPrefix(redis, prefix);
      redis.disconnect();
    });
    const store = createActionStore(redis, { prefix, ttlSeconds: 900, signer: testSigner() });
    const captured = capture();
    // The executor asks Slack (through the bot's client) about the policy's groups at each click.
    const started: { bot?: SlackApp } = {};
    const executor = deciderOf(
      options,
      store,
      captured,
      (identity, group) => (started.bot ? started.bot.isMemberOf(identity, group) : Promise.resolve(false)),
      // As deputy executor does: alerts (a break-glass approval) queued in Redis for a bot to post.
      redisAlertSink(redis, prefix),
    );
    const harness = await startHarness({
      env: { DEPUTY_REDIS_PREFIX: prefix, DEPUTY_RATE_LIMIT_USER_PER_MINUTE: "1000", ...options.mcpEnv },
    });
    closers.push(() => harness.close());
    const slack = await startSlackFake(options.slack);
    closers.push(() => slack.close());
    const model = await startAnthropicFake();
    closers.push(() => model.close());
    const bot = await startSlackAppOverFakes(
      { slack, redis, prefix, store, captured, env: options.env },
      (config) => ({
        ...(options.policy ? { approvalPolicy: options.policy } : {}),
        mcp: harness.client,
        agent: options.agent === false ? undefined : scriptedAgent(model, captured.logger),
        decider: options.decider ?? { decide: async (request) => (await executor()).decide(request) },
        followUp: options.followUp,
        cardSweepMs: options.cardSweepMs,
        conversationLimits: {
          turnsPerHour: config.anthropic.turnsPerHour,
          tokensPerHour: config.anthropic.tokensPerHour,
        },
        ...(options.metrics ? { metrics: options.metrics } : {}),
      }),
    );
    started.bot = bot;
    closers.push(() => bot.stop());
    return { bot, slack, model, harness, redis, prefix, store, captured, executor, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** What a bot over the fakes shares with the rest of its run. */
export interface SlackAppParts {
  slack: SlackFake;
  redis: Redis;
  prefix: string;
  /** The action store the bot renders cards from. */
  store: ActionStore;
  /** Where the bot logs and audits. */
  captured: Captured;
  /** The bot's settings beyond the Slack fake's: approvers, access rules. */
  env?: Record<string, string> | undefined;
}

/** The rest of the bot's dependencies: which clusters it serves, its agent and timings. */
export type SlackAppRest = SlackAppClusters &
  Pick<SlackAppDeps, "agent"> &
  Partial<
    Pick<
      SlackAppDeps,
      "followUp" | "cardSweepMs" | "conversationLimits" | "metrics" | "turnLeaseMs" | "turnSweepMs"
    >
  >;

/**
 * Deputy's Slack app over the Slack fake: its settings parsed from the fake's
 * and `parts.env`, its state in `parts`, the rest from `rest`, started over
 * HTTP and set as the fake's events target. The caller stops it.
 */
export async function startSlackAppOverFakes(
  parts: SlackAppParts,
  rest: (config: Config) => SlackAppRest,
): Promise<SlackApp> {
  const config = parseConfig({ ...slackFakeEnv(parts.slack), ...parts.env });
  const bot = createSlackApp({
    slack: config.slack,
    approvals: config.approvals,
    access: config.access,
    redisPrefix: parts.prefix,
    redis: parts.redis,
    logger: parts.captured.logger,
    audit: parts.captured.audit,
    actions: parts.store,
    statusIntervalMs: 0,
    ...rest(config),
  });
  const { port } = await bot.start();
  parts.slack.setTarget(`http://127.0.0.1:${port}${EVENTS_PATH}`);
  return bot;
}

function deciderOf(
  decisions: BotDecisions & { policy?: ApprovalPolicy | undefined },
  store: ActionStore,
  captured: Captured,
  isMemberOf: (identity: Identity, group: string) => Promise<boolean>,
  alerts: AlertSink,
): () => Promise<ApprovalDecider> {
  if (decisions.decider) {
    const decider = decisions.decider;
    return () => Promise.resolve(decider);
  }
  const { approvers, onCredential } = decisions.executor;
  let ready: Promise<ApprovalDecider> | undefined;
  return () => {
    ready ??= (async () => {
      const writeEnv = await prepareWriteEnv();
      const config = parseConfig({ DEPUTY_CLUSTER_NAME: "testenv" });
      return writeExecutor(writeEnv, {
        store,
        audit: captured.audit,
        logger: captured.logger,
        approverIds: approvers,
        onCredential,
        approvers: { slackUserIds: [...approvers], localApproverIds: [], isMemberOf },
        ...(decisions.policy ? { policy: decisions.policy, alerts } : {}),
        protectedNamespaces: config.guardrails.protectedNamespaces,
      });
    })();
    return ready;
  };
}
