import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { pino } from "pino";
import type { AgentProgress, MessageParam } from "../bot/agent/types.ts";
import { agentFromConfig } from "../bot/wiring.ts";
import { parseDirectCommand } from "../bot/direct-commands.ts";
import type { AlertSink, TriageSink } from "../core/observability/alerts.ts";
import {
  anomalyDetectorFromConfig,
  clusterStatePrefix,
  type AnomalyDetector,
  isWritePaused,
  writePauseStatus,
} from "../core/observability/anomaly.ts";
import {
  auditRecordFromLine,
  createAuditLog,
  type AuditObserver,
  type AuditRecord,
} from "../core/audit/log.ts";
import { actionStory } from "../core/audit/story.ts";
import { parseConfig, type Config } from "../core/config/config.ts";
import { createCloser } from "../core/closer.ts";
import { DeputyError, describeError } from "../core/errors.ts";
import { createLogger, type Logger } from "../core/observability/logger.ts";
import { createOpenBaoClient } from "../executor/openbao-client.ts";
import { setupOpenBao } from "../executor/openbao-setup.ts";
import type { ApprovalExecutor } from "../executor/approval-executor.ts";
import { clusterMountPath, rolesForCluster } from "../core/identity/openbao-roles.ts";
import { createActionStore, createActionStoreFromConfig } from "../core/actions/store.ts";
import { createClusterActionSigner } from "../core/actions/digest.ts";
import type { KubeClients } from "../core/kube/client.ts";
import { loadRolesFromConfig, startExecutorFromConfig } from "../executor/wiring.ts";
import { describeTarget } from "../core/actions/action-type.ts";
import { callerMeta } from "../core/actions/meta.ts";
import type { PendingAction } from "../core/actions/schema.ts";
import { startHttpServer, type RunningHttpServer } from "../mcp/transports/http.ts";
import { connectInMemory, type InMemoryConnection } from "../mcp/transports/in-memory.ts";
import { kubeClientsFromConfig, mcpDepsFromConfig } from "../mcp/wiring.ts";
import { triageWatcherFromConfig } from "../watcher/wiring.ts";
import { approvalCardView } from "./card.ts";
import { createEventHub } from "./events.ts";
import { prepareLocalIdentities, type LocalIdentities } from "./local-identities.ts";
import { connectRedis, resolveServedClusters, type Progress, type ServedCluster } from "./local-cluster.ts";
import { createConsoleServer, type ConsoleServer } from "./server.ts";
import {
  createConsoleSession,
  type AgentTurnInput,
  type AgentTurnOutput,
  type ConsoleSession,
} from "./session.ts";
import { localApprovers } from "./users.ts";

/**
 * All of Deputy in one process on one machine: the same MCP server (in memory
 * for the console and the agent, and on 127.0.0.1 for other MCP clients), the
 * same guardrails, pending-action store, approval executor, OpenBao
 * credentials, audit trail and triage watcher as a cluster deployment — with
 * the local console in place of Slack.
 */

export const REPO_ROOT = resolve(import.meta.dirname, "..");
/** Where local mode keeps its audit chain and logs unless configured otherwise. */
export const LOCAL_STATE_DIR = join(REPO_ROOT, ".deputy");

export interface LocalModeOptions {
  env?: Record<string, string | undefined>;
  progress?: Progress;
}

export interface LocalMode {
  consoleUrl: string;
  /** The default cluster's MCP server on 127.0.0.1. */
  mcpUrl: string;
  /** The default cluster: where a conversation starts. */
  cluster: { server: string; source: "kubeconfig" | "local" };
  /** Every cluster served, each with its own MCP server on 127.0.0.1 (one entry without DEPUTY_KUBE_CONTEXTS). */
  clusters: Array<{ name: string; server: string; context: string | undefined; mcpUrl: string }>;
  defaultCluster: string;
  auditFile: string;
  logFile: string;
  model: string | undefined;
  close(): Promise<void>;
}

export const CONSOLE_DIRECT_COMMANDS = [
  "troubleshoot shop/checkout",
  "pods shop",
  "logs shop/<pod> --previous",
  "events shop",
  "restart deployment/checkout -n shop",
  "scale deployment/frontend --replicas 3 -n shop",
  "drain <node>",
  "help",
];

/** Audit records of one action: from this run's memory, else from the audit file. */
function readAuditFile(file: string): AuditRecord[] {
  if (!existsSync(file)) return [];
  const records: AuditRecord[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line.trim()) continue;
    const record = auditRecordFromLine(line);
    if (record) records.push(record);
  }
  return records;
}

function agentAdapter(
  config: Config,
  mcp: InMemoryConnection,
  logger: Logger,
  approvers: readonly string[],
  loadAction: (id: string) => Promise<PendingAction | undefined>,
): ((input: AgentTurnInput) => Promise<AgentTurnOutput>) | undefined {
  const agent = agentFromConfig(config, logger);
  if (!agent) return undefined;
  const log = logger.child({ component: "agent" });
  return async (input) => {
    const cards: Promise<void>[] = [];
    const onProgress = (event: AgentProgress): void => {
      switch (event.type) {
        case "tool_start":
          input.emit({
            type: "tool_call",
            callId: event.callId,
            tool: event.tool,
            arguments: event.target ? { target: event.target } : {},
            status: "running",
          });
          break;
        case "tool_end":
          input.emit({
            type: "tool_call",
            callId: event.callId,
            tool: event.tool,
            arguments: event.target ? { target: event.target } : {},
            status: event.isError ? "error" : "ok",
            durationMs: event.durationMs,
          });
          break;
        case "pending_action":
          // The card comes from the stored, verified action, never from the tool result.
          cards.push(
            loadAction(event.action.id).then((action) => {
              if (action && action.digest === event.action.digest) {
                input.emit({ type: "card", card: approvalCardView(action, approvers) });
              } else {
                log.error({ actionId: event.action.id }, "stored action missing or failed its check");
              }
            }),
          );
          break;
        case "retrying":
          input.emit({
            type: "progress",
            text: `The model is busy (${event.reason}); retrying in ${Math.round(event.delayMs / 1000)} s…`,
          });
          break;
        case "model_call":
          break;
      }
    };
    const result = await agent.run({
      prompt: input.prompt,
      history: input.history as MessageParam[],
      notes: input.notes,
      requester: input.requester,
      conversation: input.conversation,
      mcp: mcp.client,
      onProgress,
      signal: input.signal,
    });
    await Promise.all(cards);
    return { text: result.text, messages: result.messages };
  };
}

function consoleTriageSink(session: Pick<ConsoleSession, "postTriage">): TriageSink {
  return {
    async postTriage(message) {
      const target = describeTarget(message.object, { lowercaseKind: true });
      const text = message.analysis
        ? `${message.diagnosis}\n\nAnalysis:\n${message.analysis}`
        : message.diagnosis;
      session.postTriage(message.title, text, target);
    },
  };
}

/** What local mode runs for one served cluster. */
interface ClusterServices {
  name: string;
  served: ServedCluster;
  /** This cluster's configuration: its name, read identity, OpenBao mounts and login token. */
  config: Config;
  mcp: InMemoryConnection;
  mcpUrl: string;
  executor: ApprovalExecutor;
  anomalies: AnomalyDetector;
  kube: KubeClients;
}

export async function startLocalMode(options: LocalModeOptions = {}): Promise<LocalMode> {
  const env = options.env ?? process.env;
  const progress = options.progress ?? ((): void => {});
  let logger: Logger | undefined;
  const closer = createCloser(() => logger);
  try {
    const config = parseConfig(env);
    const auditFile = resolve(config.observability.auditFile ?? join(LOCAL_STATE_DIR, "audit.jsonl"));
    const logFile = resolve(config.console.logFile ?? join(LOCAL_STATE_DIR, "deputy.log"));
    await mkdir(dirname(logFile), { recursive: true });
    // The terminal is for progress; logs and the audit chain go to files.
    const logDestination = pino.destination({ dest: logFile, sync: false, append: true, mkdir: true });
    closer.add("the log file", () => logDestination.flushSync());
    logger = createLogger({ level: config.logLevel, name: "deputy-local", destination: logDestination });
    const log = logger;

    // Every cluster is checked (and must answer) before anything is created in any of them.
    const served = await resolveServedClusters(config, env, progress);
    const several = served.several;
    const step = (cluster: ServedCluster, line: string): void =>
      progress(several ? `cluster ${cluster.name}: ${line}` : line);
    const redis = await connectRedis(served.clusters[0]!.redisUrl, logger);
    closer.add("Redis", () => void redis.disconnect());
    const roles = loadRolesFromConfig(config);

    const prepared: Array<{ served: ServedCluster; identities: LocalIdentities }> = [];
    for (const cluster of served.clusters) {
      step(
        cluster,
        "creating Deputy's identities on the cluster (read-only MCP identity, executor, OpenBao's)",
      );
      const identities: LocalIdentities = await prepareLocalIdentities(cluster.admin, roles);
      closer.add(several ? `local identities in ${cluster.name}` : "local identities", () =>
        identities.close(),
      );
      for (const namespace of identities.missingNamespaces) {
        progress(`  writable namespace "${namespace}" does not exist: writes there will fail until it does`);
      }
      // Several clusters share one OpenBao: each gets mounts and policies of its own.
      const clusterRoles = several ? rolesForCluster(roles, cluster.name) : roles;
      step(
        cluster,
        several
          ? `setting up OpenBao at ${cluster.baoAddr} (Kubernetes auth and secrets engine under ${clusterMountPath(cluster.name, "")})`
          : `setting up OpenBao at ${cluster.baoAddr} (Kubernetes auth and secrets engine)`,
      );
      const openbao = createOpenBaoClient({ addr: cluster.baoAddr });
      try {
        await setupOpenBao({
          openbao,
          adminToken: cluster.baoSetupToken,
          roles: clusterRoles,
          kubernetesHost: cluster.server,
          kubernetesCaPem: cluster.caPem ?? "",
          secretsEngineJwt: identities.secretsEngineJwt,
        });
      } catch (error) {
        throw new DeputyError(
          "UPSTREAM_FAILED",
          `OpenBao setup at ${cluster.baoAddr}${several ? ` for cluster ${cluster.name}` : ""} failed: ${describeError(error).replace(/\s+/g, " ").trim()} ` +
            (cluster.source === "local"
              ? "(the local dev server may have restarted: run deputy testenv status)"
              : "(check BAO_ADDR, and that BAO_TOKEN is an admin token)"),
          { cause: error },
        );
      }
      prepared.push({ served: cluster, identities });
    }

    const memory: AuditRecord[] = [];
    // The anomaly detectors observe the audit log they also write to: bound below.
    let observeAnomalies: AuditObserver = () => {};
    const audit = createAuditLog({
      file: auditFile,
      onRecord: [
        (record) => {
          if (record.actionId === undefined) return;
          memory.push(record);
          if (memory.length > 20_000) memory.splice(0, memory.length - 20_000);
        },
        (record) => observeAnomalies(record),
      ],
    });

    // Local mode signs stored actions with a key made once for this environment and kept beside
    // its audit file (never in Redis), so actions from an earlier run can still be checked.
    // Several clusters each have their own: one cluster's MCP server cannot sign for another.
    const actionKeys = new Map<string, Buffer>();
    for (const { served: cluster } of prepared) {
      const file = several ? `action-${cluster.name}.key` : "action.key";
      actionKeys.set(cluster.name, await localActionKey(join(dirname(auditFile), file)));
    }
    const approvers = localApprovers(config.console.users);
    const hub = createEventHub();
    let postAlert: (title: string, text: string) => void = () => {};
    const alertSink: AlertSink = {
      async postAlert(alert) {
        const paused = alert.writesPaused
          ? " Write approvals are paused until an approver types: resume writes"
          : "";
        postAlert(`Anomaly: ${alert.rule} (${alert.severity})`, `${alert.text}${paused}`);
      },
    };

    const services: ClusterServices[] = [];
    for (const [index, { served: cluster, identities }] of prepared.entries()) {
      const kube = kubeClientsFromConfig(config, logger, { kubeConfig: identities.reader });
      closer.add(`the Kubernetes client${several ? ` of ${cluster.name}` : ""}`, () => kube.close());
      const clusterRoles = several ? rolesForCluster(roles, cluster.name) : roles;
      // The tools read with the read-only identity; the executor logs in to
      // OpenBao with its own token file. Neither ever sees the admin kubeconfig.
      const localConfig: Config = {
        ...config,
        kube: { ...config.kube, kubeconfig: undefined, clusterName: cluster.name },
        redis: { ...config.redis, url: cluster.redisUrl },
        openbao: {
          ...config.openbao,
          addr: cluster.baoAddr,
          jwtPath: identities.executorJwtPath,
          ...(several
            ? { authMount: clusterRoles.auth.mount, secretsMount: clusterRoles.secretsEngine.mount }
            : {}),
        },
      };
      const actionKey = actionKeys.get(cluster.name)!;
      const mcpDeps = mcpDepsFromConfig(localConfig, { logger, audit, redis, actionKey, kube });
      closer.add(`the preview client${several ? ` of ${cluster.name}` : ""}`, () => mcpDeps.preview?.close());

      step(cluster, "starting the MCP server");
      const mcp = await connectInMemory(mcpDeps, { clientName: "deputy-console" });
      closer.add(`the in-memory MCP connection${several ? ` to ${cluster.name}` : ""}`, () => mcp.close());
      // Other local MCP clients cannot sign; they may read, and their _meta names nobody.
      // A fixed port serves the first cluster; the next ones take the ports after it.
      const mcpHttp: RunningHttpServer = await startHttpServer(mcpDeps, {
        host: config.mcp.host,
        port: config.mcp.port === 0 ? 0 : config.mcp.port + index,
        callers: "anonymous",
      });
      closer.add(`the MCP HTTP server${several ? ` of ${cluster.name}` : ""}`, () => mcpHttp.close());

      const prefix = clusterStatePrefix(localConfig);
      const { executor } = startExecutorFromConfig({
        config: localConfig,
        redis,
        audit,
        logger: logger.child({ component: "executor", ...(several ? { cluster: cluster.name } : {}) }),
        cluster: { server: cluster.server, caPem: cluster.caPem },
        actionKey,
        localMode: true,
        writePause: async () =>
          (await isWritePaused(redis, prefix)) ? await writePauseStatus(redis, prefix) : undefined,
        closer,
      });
      const reconciled = await executor.reconcile();
      if (reconciled.length > 0) progress(`marked ${reconciled.length} interrupted action(s) (never re-run)`);
      const anomalies = anomalyDetectorFromConfig(localConfig, { redis, audit, logger, sink: alertSink });
      services.push({
        name: cluster.name,
        served: cluster,
        config: localConfig,
        mcp,
        mcpUrl: mcpHttp.url,
        executor,
        anomalies,
        kube,
      });
    }
    const first = services[0]!;
    const byName = new Map(services.map((service) => [service.name, service]));
    const serviceOf = (cluster: string | undefined): ClusterServices =>
      (cluster === undefined ? undefined : byName.get(cluster)) ?? byName.get(served.defaultCluster) ?? first;
    // Each cluster's detector counts that cluster's records; records that name none go to the default.
    observeAnomalies = (record) => serviceOf(record.cluster).anomalies.observer(record);

    // One store holds every cluster's actions; each names its cluster, is signed with that
    // cluster's key and verifies only with it.
    const actions = several
      ? createActionStore(redis, {
          prefix: config.redis.prefix,
          ttlSeconds: config.approvals.ttlSeconds,
          signer: createClusterActionSigner(actionKeys),
        })
      : createActionStoreFromConfig(config, redis, actionKeys.get(first.name)!);
    const loadAction = (id: string): Promise<PendingAction | undefined> => actions.get(id);
    const callTool = async (
      name: string,
      args: Record<string, unknown>,
      caller: {
        requester: unknown;
        conversation: unknown;
        prompt: string | undefined;
        reason: string | undefined;
      },
      cluster: string,
    ): Promise<CallToolResult> =>
      (await serviceOf(cluster).mcp.client.callTool(
        {
          name,
          arguments: args,
          _meta: callerMeta({ ...caller, prompt: caller.prompt || undefined }),
        },
        undefined,
        { timeout: 60_000 },
      )) as CallToolResult;

    const agents = new Map(
      services.map((service) => [
        service.name,
        agentAdapter(service.config, service.mcp, log, approvers, loadAction),
      ]),
    );
    const runAgentTurn = agents.get(first.name)
      ? (input: AgentTurnInput): Promise<AgentTurnOutput> =>
          (agents.get(serviceOf(input.cluster).name) ?? agents.get(first.name)!)(input)
      : undefined;

    const session: ConsoleSession = createConsoleSession({
      hub,
      logger: logger.child({ component: "console" }),
      approvers,
      callTool,
      clusters: { names: services.map((service) => service.name), defaultCluster: served.defaultCluster },
      parseDirectCommand,
      runAgentTurn,
      loadAction,
      // The executor of the cluster the stored action names decides it, verifying it whole; an
      // action of a cluster not served here goes to the default one, which refuses it.
      decide: async (request) => {
        return serviceOf(await actions.clusterOf(request.actionId)).executor.decide(request);
      },
      auditStory: async (actionId) => {
        let records = memory.filter((record) => record.actionId === actionId);
        if (records.length === 0)
          records = readAuditFile(auditFile).filter((record) => record.actionId === actionId);
        const story = actionStory(records, actionId);
        return { actionId, lines: story.lines };
      },
      directCommandHelp: CONSOLE_DIRECT_COMMANDS,
      // As `/deputy resume-writes` in Slack: every served cluster's pause is lifted, each named.
      resumeWrites: async (user) => {
        if (!approvers.includes(user.id)) return `${user.id} is not an approver, so cannot resume writes.`;
        if (!several) {
          const lifted = await first.anomalies.resume(user);
          return lifted
            ? `Writes resumed by ${user.id} (they were paused by ${lifted.rule}: ${lifted.reason}).`
            : "Writes were not paused.";
        }
        const lifted: string[] = [];
        for (const service of services) {
          const pause = await service.anomalies.resume(user);
          if (pause) lifted.push(`cluster ${service.name} (paused by ${pause.rule}: ${pause.reason})`);
        }
        return lifted.length > 0
          ? `Writes resumed by ${user.id} in ${lifted.join("; ")}.`
          : "Writes were not paused in any cluster served here.";
      },
    });
    postAlert = (title, text) => session.postAlert(title, text);
    closer.add("the console session", async () => {
      session.close();
      await session.drain();
    });

    // Expired cards change state in Redis; show that in the thread too. The store is shared,
    // so one executor's sweep expires every cluster's actions.
    const sweep = setInterval(() => {
      first.executor
        .expireDue()
        .then(async (ids) => {
          for (const id of ids) {
            const action = await actions.get(id);
            if (action) session.actionChanged(action);
          }
        })
        .catch((error: unknown) => logger?.warn({ err: describeError(error) }, "expiry sweep failed"));
    }, 15_000);
    sweep.unref();
    closer.add("the expiry sweep", () => clearInterval(sweep));

    for (const service of services) {
      step(service.served, "starting the triage watcher");
      const triageSession: Pick<ConsoleSession, "postTriage"> = several
        ? {
            postTriage: (title, text, object) =>
              session.postTriage(`[cluster ${service.name}] ${title}`, text, object),
          }
        : session;
      // Several clusters may hold objects of the same name: each watcher remembers what it told
      // under its own cluster's prefix.
      const watcherConfig: Config = several
        ? {
            ...service.config,
            redis: { ...service.config.redis, prefix: clusterStatePrefix(service.config) },
          }
        : service.config;
      const watcher = triageWatcherFromConfig({
        config: watcherConfig,
        kube: service.kube,
        redis,
        sink: consoleTriageSink(triageSession),
        logger,
        audit,
      });
      await watcher.start();
      closer.add(`the triage watcher${several ? ` of ${service.name}` : ""}`, () => watcher.stop());
    }

    const defaultService = serviceOf(served.defaultCluster);
    const server: ConsoleServer = createConsoleServer({
      host: config.console.host,
      port: config.console.port,
      users: config.console.users,
      hub,
      session,
      logger: logger.child({ component: "console-http" }),
      status: () => ({
        cluster: several ? services.map((service) => service.name).join(", ") : config.kube.clusterName,
        model: {
          enabled: config.anthropic.apiKey !== undefined,
          name: config.anthropic.apiKey ? config.anthropic.model : undefined,
        },
        approvers,
        directCommands: CONSOLE_DIRECT_COMMANDS,
      }),
    });
    const consoleUrl = await server.listen();
    closer.add("the console", () => server.close());
    logger.info(
      {
        consoleUrl,
        clusters: services.map((service) => ({
          name: service.name,
          server: service.served.server,
          mcpUrl: service.mcpUrl,
        })),
      },
      "local mode ready",
    );

    return {
      consoleUrl,
      mcpUrl: defaultService.mcpUrl,
      cluster: { server: defaultService.served.server, source: defaultService.served.source },
      clusters: services.map((service) => ({
        name: service.name,
        server: service.served.server,
        context: service.served.context,
        mcpUrl: service.mcpUrl,
      })),
      defaultCluster: defaultService.name,
      auditFile,
      logFile,
      model: config.anthropic.apiKey ? config.anthropic.model : undefined,
      close: () => closer.closeAll(),
    };
  } catch (error) {
    await closer.closeAll();
    throw error;
  }
}

/** This environment's action MAC key: made once (32 random bytes), readable by its owner only. */
async function localActionKey(path: string): Promise<Buffer> {
  try {
    const key = Buffer.from((await readFile(path, "utf8")).trim(), "base64");
    if (key.length >= 32) return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const key = randomBytes(32);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, key.toString("base64"), { mode: 0o600 });
  return key;
}
