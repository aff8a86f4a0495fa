import { createRedisClient, watchRedisHealth } from "../core/state/redis.ts";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { Redis } from "ioredis";
import { createClusterActionSigner, createActionSigner } from "../core/actions/digest.ts";
import { createActionStore } from "../core/actions/store.ts";
import { createAuditLog, type AuditLog, type AuditObserver } from "../core/audit/log.ts";
import { createCloser, type Closer } from "../core/closer.ts";
import type { Config } from "../core/config/config.ts";
import {
  approvalPolicyFromConfig,
  DEFAULT_POLICY_SOURCE,
  policyGroupIds,
} from "../core/actions/approval-policy.ts";
import { keysOfCluster, requireKey, type DeputyKeys, type KeyPurpose } from "../core/identity/keys.ts";
import { DeputyError, describeError } from "../core/errors.ts";
import type { Logger } from "../core/observability/logger.ts";
import type { Metrics } from "../core/observability/metrics.ts";
import { createAnthropicModel, DEFAULT_MODEL_RETRY } from "./agent/model.ts";
import { createAgentRunner } from "./agent/run-agent-turn.ts";
import { assertSlackConfig, createSlackApp, type SlackApp } from "./app.ts";
import type { AgentRunner, ApprovalDecider } from "./deps.ts";
import { connectMcpOverHttp } from "./mcp-client.ts";
import { workspaceTeamId } from "./workspace.ts";

export { connectMcpOverHttp };

/**
 * Building the running bot from parsed configuration. The MCP server and the
 * executor are reached the way the deployment says: Streamable HTTP and the
 * executor's HTTP API in a cluster (DEPUTY_MCP_URL, DEPUTY_EXECUTOR_URL), or
 * in this process when those are unset. Callers that already hold an MCP
 * client or an executor (local mode, tests, the benchmark) pass them in.
 */
export interface BotRuntime {
  slack: SlackApp;
  port: number | undefined;
  /** Undefined when ready; otherwise why not (for /readyz). */
  ready(): Promise<string | undefined>;
  close(): Promise<void>;
}

export interface BotRuntimeOptions {
  logger: Logger;
  audit?: AuditLog;
  redis?: Redis;
  mcp?: Client;
  /** Build the decider once the Slack app exists (it supplies isInGroup). */
  decider?: ApprovalDecider | ((slack: SlackApp) => ApprovalDecider | Promise<ApprovalDecider>);
  statusIntervalMs?: number;
  /** Token usage of the agent is counted here. */
  metrics?: Metrics;
  /**
   * Deputy's keys (core/identity/keys.ts): the action key verifies the stored actions
   * cards are rendered from (always needed); the caller keys sign requests to
   * a remote MCP server and executor.
   */
  keys?: DeputyKeys;
  /**
   * With SLACK_ALERT_CHANNEL set, the anomaly detector's audit observer is
   * handed here, for the caller to attach to the audit log it passed in.
   */
  attachAuditObserver?: (observer: AuditObserver) => void;
}

export function agentFromConfig(config: Config, logger: Logger, metrics?: Metrics): AgentRunner | undefined {
  const { anthropic } = config;
  if (!anthropic.apiKey) return undefined;
  const runner = createAgentRunner({
    model: createAnthropicModel({
      apiKey: anthropic.apiKey,
      ...(anthropic.baseUrl ? { baseUrl: anthropic.baseUrl } : {}),
      retry: { ...DEFAULT_MODEL_RETRY, windowMs: anthropic.retryWindowMs },
    }),
    modelName: anthropic.model,
    limits: {
      maxIterations: anthropic.maxIterations,
      maxSeconds: anthropic.maxSeconds,
      maxTokens: anthropic.maxTokens,
      maxOutputTokens: anthropic.maxOutputTokens,
    },
    logger: logger.child({ component: "agent" }),
  });
  if (!metrics) return runner;
  return {
    async run(input) {
      const result = await runner.run(input);
      metrics.llmTokens({
        input: result.usage.inputTokens + result.usage.cacheReadTokens + result.usage.cacheCreationTokens,
        output: result.usage.outputTokens,
        model: anthropic.model,
      });
      return result;
    },
  };
}

/**
 * The clusters this bot serves, from DEPUTY_CLUSTERS (or DEPUTY_CLUSTER_NAME
 * and friends without it), each as the configuration of one cluster: its
 * name, its MCP server and its executor. Only a single cluster may run its
 * MCP server and executor in this process; several are always remote, each in
 * its own cluster with its own identities.
 */
export function servedClusterConfigs(config: Config): Config[] {
  if (config.clusters.length === 0)
    throw new DeputyError("CONFIG_INVALID", "DEPUTY_CLUSTERS lists no cluster");
  return config.clusters.map((cluster) => ({
    ...config,
    kube: { ...config.kube, clusterName: cluster.name },
    mcp: { ...config.mcp, url: cluster.mcpUrl },
    approvals: { ...config.approvals, executorUrl: cluster.executorUrl },
  }));
}

/**
 * With several clusters the bot holds each cluster's keys apart (read from
 * `<DEPUTY_KEYS_FROM_OPENBAO>/clusters/<name>/…`): the names to load them for,
 * or undefined for a single cluster (the keys at the path itself).
 */
export function botKeyClusters(config: Config): string[] | undefined {
  return config.clusters.length > 1 ? config.clusters.map((cluster) => cluster.name) : undefined;
}

/** The keys this bot's shape needs: a caller key per remote component, the action key for in-process ones. */
export function botKeyPurposes(given: Config): KeyPurpose[] {
  const clusters = servedClusterConfigs(given);
  // Cards are rendered from the stored, signed actions: the bot always verifies them.
  const purposes: KeyPurpose[] = ["action"];
  if (clusters.some((config) => config.mcp.url)) purposes.push("mcpCaller");
  if (clusters.some((config) => config.approvals.executorUrl)) purposes.push("executorCaller");
  return purposes;
}

export async function startBot(given: Config, options: BotRuntimeOptions): Promise<BotRuntime> {
  const { logger } = options;
  const served = servedClusterConfigs(given);
  const config = served[0]!;
  if (served.length > 1 && (options.mcp || options.decider)) {
    throw new DeputyError(
      "CONFIG_INVALID",
      "an MCP client or decider given in process serves one cluster only",
    );
  }
  assertSlackConfig(config.slack);
  // A policy that does not parse or type-check stops the bot before it connects to anything.
  const approvalPolicy = approvalPolicyFromConfig(config, { logger });
  const closer = createCloser(() => logger);
  try {
    const redis = options.redis ?? createRedisClient(config.redis, { maxRetriesPerRequest: 2 });
    if (!options.redis) {
      watchRedisHealth(redis, logger);
      closer.add("Redis", () => void redis.disconnect());
    }
    const audit = options.audit ?? createAuditLog();
    const keys = options.keys ?? {};
    const several = served.length > 1;
    const keysOf = (cluster: Config): DeputyKeys => keysOfCluster(keys, cluster.kube.clusterName, several);
    // Each cluster's proposals verify with that cluster's own action key only.
    const actionKey = several ? undefined : requireKey(keys, "action", "deputy bot");
    const signer = actionKey
      ? createActionSigner(actionKey)
      : createClusterActionSigner(
          new Map(
            served.map((cluster) => [
              cluster.kube.clusterName,
              requireKey(keysOf(cluster), "action", `deputy bot (cluster ${cluster.kube.clusterName})`),
            ]),
          ),
        );

    const mcpClients = new Map<string, Client>();
    for (const cluster of served) {
      mcpClients.set(
        cluster.kube.clusterName,
        options.mcp ??
          (await connectClusterMcp(cluster, { ...options, redis, audit, keys: keysOf(cluster) }, closer)),
      );
    }

    // The executors need the app's isInGroup; the app needs their deciders: resolve lazily.
    const deciders = new Map<string, ApprovalDecider>();
    const slack = createSlackApp({
      slack: config.slack,
      approvals: config.approvals,
      approvalPolicy,
      access: config.access,
      audit,
      redisPrefix: config.redis.prefix,
      redis,
      logger,
      agent: agentFromConfig(config, logger, options.metrics),
      conversationLimits: {
        turnsPerHour: config.anthropic.turnsPerHour,
        tokensPerHour: config.anthropic.tokensPerHour,
      },
      actions: createActionStore(redis, {
        prefix: config.redis.prefix,
        ttlSeconds: config.approvals.ttlSeconds,
        signer,
      }),
      clusters: served.map((cluster, index) => {
        const name = cluster.kube.clusterName;
        return {
          name,
          mcp: mcpClients.get(name)!,
          channels: given.clusters[index]?.channels ?? [],
          decider: {
            decide: (request) => {
              const decider = deciders.get(name);
              if (!decider) throw new Error(`the executor of cluster ${name} is not ready yet`);
              return decider.decide(request);
            },
          },
        };
      }),
      ...(options.statusIntervalMs !== undefined ? { statusIntervalMs: options.statusIntervalMs } : {}),
      ...(options.metrics ? { metrics: options.metrics } : {}),
      memoryRetentionSeconds: config.slack.memoryRetentionDays * 24 * 3600,
    });
    const { deciderFromConfig } = await import("../executor/wiring.ts");
    for (const cluster of served) {
      let decider: ApprovalDecider;
      if (typeof options.decider === "function") decider = await options.decider(slack);
      else if (options.decider) decider = options.decider;
      else {
        decider = deciderFromConfig(cluster, {
          redis,
          audit,
          logger,
          keys: keysOf(cluster),
          closer,
          component: "deputy bot",
          isInGroup: slack.isInGroup,
          ...(approvalPolicy.source === DEFAULT_POLICY_SOURCE
            ? {}
            : {
                policyGroups: {
                  ids: policyGroupIds(approvalPolicy),
                  isMember: slack.isMemberOf,
                  requesterOf: async (actionId: string) =>
                    (await slack.services.actions.get(actionId))?.requester,
                },
              }),
          metrics: options.metrics,
        });
      }
      deciders.set(cluster.kube.clusterName, decider);
    }

    await startUnprompted(config, { ...options, redis, audit, slack }, closer);
    if (config.alertmanager.token) {
      const { startAlertReceiver } = await import("./alerts/receiver.ts");
      const { parseAlertRoutes } = await import("./alerts/alertmanager.ts");
      const routes = parseAlertRoutes(config.alertmanager.routes, config.slack.triageChannel);
      if (routes.length === 0) {
        throw new DeputyError(
          "CONFIG_INVALID",
          "DEPUTY_ALERTS_TOKEN is set but no alert can be routed: set DEPUTY_ALERT_ROUTES or SLACK_TRIAGE_CHANNEL",
        );
      }
      const receiver = await startAlertReceiver({
        services: slack.services,
        client: slack.client,
        token: config.alertmanager.token,
        routes,
        perMinute: config.alertmanager.perMinute,
        host: config.alertmanager.host,
        port: config.alertmanager.port,
      });
      closer.add("the Alertmanager receiver", () => receiver.close());
    }

    const { port } = await slack.start();
    let stopped = false;
    closer.add("the Slack app", async () => {
      stopped = true;
      await slack.stop();
    });
    if (!config.anthropic.apiKey)
      logger.warn("ANTHROPIC_API_KEY is not set: Deputy answers direct commands only");
    const ready = async (): Promise<string | undefined> => {
      if (stopped) return "shutting down";
      try {
        await redis.ping();
      } catch (error) {
        return `Redis does not answer (${describeError(error)})`;
      }
      return undefined;
    };
    return { slack, port, ready, close: () => closer.closeAll() };
  } catch (error) {
    await closer.closeAll();
    throw error;
  }
}

/** A cluster's MCP server: over Streamable HTTP, or (single cluster) in this process. */
async function connectClusterMcp(
  config: Config,
  deps: BotRuntimeOptions & { redis: Redis; audit: AuditLog; keys: DeputyKeys },
  closer: Closer,
): Promise<Client> {
  let mcp: Client;
  if (config.mcp.url) {
    mcp = await connectMcpOverHttp(config.mcp.url, requireKey(deps.keys, "mcpCaller", "deputy bot"));
  } else {
    // Single-process mode: the MCP server runs here with its read-only identity.
    const { closeMcpDeps, mcpDepsFromConfig } = await import("../mcp/wiring.ts");
    const { connectInMemory } = await import("../mcp/transports/in-memory.ts");
    const mcpDeps = mcpDepsFromConfig(config, {
      logger: deps.logger,
      audit: deps.audit,
      redis: deps.redis,
      actionKey: requireKey(deps.keys, "action", "deputy bot"),
      metrics: deps.metrics,
    });
    closer.add("the Kubernetes and preview clients", () => closeMcpDeps(mcpDeps));
    mcp = (await connectInMemory(mcpDeps, { clientName: "deputy-bot" })).client;
  }
  const owned = mcp;
  closer.add(`the MCP client of cluster ${config.kube.clusterName}`, () => owned.close());
  return mcp;
}

/**
 * With several clusters, a triage message's thread is bound to the cluster it
 * names (conversations are keyed by workspace, as Slack's events carry it).
 */
function triageThreadBinder(
  slack: SlackApp,
  channel: string,
): ((ts: string, cluster: string) => Promise<void>) | undefined {
  const { clusters, conversations } = slack.services;
  if (clusters.all.length < 2) return undefined;
  const teamOf = workspaceTeamId(slack.client);
  return async (ts, cluster) => {
    if (!clusters.get(cluster)) return;
    // Without the workspace the binding could not be found by a mention: a mention there names the cluster.
    const teamId = await teamOf();
    if (teamId) await conversations.bindCluster({ surface: "slack", teamId, channel, thread: ts }, cluster);
  };
}

/**
 * Anomaly alerts and proactive triage, when their channels are configured.
 * The anomaly counters live in Redis, so every replica counts into the same
 * windows; the triage watcher runs only on the replica holding its Lease.
 */
async function startUnprompted(
  config: Config,
  deps: BotRuntimeOptions & { redis: Redis; audit: AuditLog; slack: SlackApp },
  closer: Closer,
): Promise<void> {
  const { slackAlertSink, slackTriageSink, triageScopeFilter } = await import("./unprompted.ts");
  const { triageRecall } = await import("./memory/triage-recall.ts");
  if (config.slack.alertChannel) {
    const { drainAlertQueue, redisAlertSink } = await import("../core/observability/alerts.ts");
    // Every detector (this process's, deputy mcp's, deputy executor's) queues its alerts in
    // Redis; one bot replica pops each and posts it.
    const drain = drainAlertQueue({
      redis: deps.redis,
      prefix: config.redis.prefix,
      sink: slackAlertSink(deps.slack.client, config.slack.alertChannel),
      logger: deps.logger.child({ component: "alerts" }),
    });
    closer.add("the alert queue", () => drain.close());
    if (deps.attachAuditObserver) {
      const { anomalyDetectorFromConfig } = await import("../core/observability/anomaly.ts");
      const detector = anomalyDetectorFromConfig(config, {
        redis: deps.redis,
        audit: deps.audit,
        logger: deps.logger,
        sink: redisAlertSink(deps.redis, config.redis.prefix),
        metrics: deps.metrics,
      });
      deps.attachAuditObserver(detector.observer);
    }
  }
  if (config.slack.triageChannel) {
    const { drainTriageQueue, redisTriageSink } = await import("../core/observability/alerts.ts");
    // The watcher queues what it finds; one bot replica pops each message and posts it.
    const drain = drainTriageQueue({
      redis: deps.redis,
      prefix: config.redis.prefix,
      sink: slackTriageSink(
        deps.slack.client,
        config.slack.triageChannel,
        triageThreadBinder(deps.slack, config.slack.triageChannel),
        // The triage channel sees only what its scope allows, like a question or an alert there.
        triageScopeFilter(config.access, config.slack.triageChannel),
        triageRecall(deps.slack.services, deps.slack.client),
      ),
      logger: deps.logger.child({ component: "triage" }),
    });
    closer.add("the triage queue", () => drain.close());
    // With a remote MCP server the watcher runs there, with the read identity (DEPUTY_WATCH):
    // the bot itself holds no Kubernetes credentials. Single-process, it runs here.
    if (config.mcp.url) return;
    const { kubeClientsFromConfig } = await import("../mcp/wiring.ts");
    const { startTriage } = await import("../watcher/wiring.ts");
    const kube = kubeClientsFromConfig(config, deps.logger);
    closer.add("the watcher's Kubernetes client", () => kube.close());
    const triage = startTriage({
      config,
      kube,
      redis: deps.redis,
      sink: redisTriageSink(deps.redis, config.redis.prefix),
      logger: deps.logger,
      audit: deps.audit,
      ...(deps.metrics ? { metrics: deps.metrics } : {}),
    });
    closer.add("the triage watcher", () => triage.stop({ release: true }));
  }
}
