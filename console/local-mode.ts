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
import type { AlertSink, TriageSink } from "../core/alerts.ts";
import {
  anomalyDetectorFromConfig,
  clusterStatePrefix,
  isWritePaused,
  writePauseStatus,
} from "../core/anomaly.ts";
import { auditRecordFromLine, createAuditLog, type AuditObserver, type AuditRecord } from "../core/audit.ts";
import { actionStory } from "../core/audit-story.ts";
import { parseConfig, type Config } from "../core/config.ts";
import { createCloser } from "../core/closer.ts";
import { DeputyError, describeError } from "../core/errors.ts";
import { createLogger, type Logger } from "../core/logger.ts";
import { createOpenBaoClient } from "../executor/openbao-client.ts";
import { setupOpenBao } from "../executor/openbao-setup.ts";
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
import { connectRedis, resolveLocalCluster, type Progress } from "./local-cluster.ts";
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
  mcpUrl: string;
  cluster: { server: string; source: "kubeconfig" | "local" };
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

function consoleTriageSink(session: ConsoleSession): TriageSink {
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

    const cluster = await resolveLocalCluster(config, env, progress);
    const redis = await connectRedis(cluster.redisUrl, logger);
    closer.add("Redis", () => void redis.disconnect());

    progress("creating Deputy's identities on the cluster (read-only MCP identity, executor, OpenBao's)");
    const roles = loadRolesFromConfig(config);
    const identities: LocalIdentities = await prepareLocalIdentities(cluster.admin, roles);
    closer.add("local identities", () => identities.close());
    for (const namespace of identities.missingNamespaces) {
      progress(`  writable namespace "${namespace}" does not exist: writes there will fail until it does`);
    }

    progress(`setting up OpenBao at ${cluster.baoAddr} (Kubernetes auth and secrets engine)`);
    const openbao = createOpenBaoClient({ addr: cluster.baoAddr });
    try {
      await setupOpenBao({
        openbao,
        adminToken: cluster.baoSetupToken,
        roles,
        kubernetesHost: cluster.server,
        kubernetesCaPem: cluster.caPem ?? "",
        secretsEngineJwt: identities.secretsEngineJwt,
      });
    } catch (error) {
      throw new DeputyError(
        "UPSTREAM_FAILED",
        `OpenBao setup at ${cluster.baoAddr} failed: ${describeError(error).replace(/\s+/g, " ").trim()} ` +
          (cluster.source === "local"
            ? "(the local dev server may have restarted: run deputy testenv status)"
            : "(check BAO_ADDR, and that BAO_TOKEN is an admin token)"),
        { cause: error },
      );
    }

    const memory: AuditRecord[] = [];
    // The anomaly detector observes the audit log it also writes to: bound below.
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

    const kube = kubeClientsFromConfig(config, logger, { kubeConfig: identities.reader });
    closer.add("the Kubernetes client", () => kube.close());
    // The tools read with the read-only identity; the executor logs in to
    // OpenBao with its own token file. Neither ever sees the admin kubeconfig.
    const localConfig: Config = {
      ...config,
      kube: { ...config.kube, kubeconfig: undefined },
      redis: { ...config.redis, url: cluster.redisUrl },
      openbao: { ...config.openbao, addr: cluster.baoAddr, jwtPath: identities.executorJwtPath },
    };
    // Local mode signs stored actions with a key made once for this environment and kept beside
    // its audit file (never in Redis), so actions from an earlier run can still be checked.
    const actionKey = await localActionKey(join(dirname(auditFile), "action.key"));
    const mcpDeps = mcpDepsFromConfig(localConfig, { logger, audit, redis, actionKey, kube });

    progress("starting the MCP server");
    const mcp = await connectInMemory(mcpDeps, { clientName: "deputy-console" });
    closer.add("the in-memory MCP connection", () => mcp.close());
    // Other local MCP clients cannot sign; they may read, and their _meta names nobody.
    const mcpHttp: RunningHttpServer = await startHttpServer(mcpDeps, {
      host: config.mcp.host,
      port: config.mcp.port,
      callers: "anonymous",
    });
    closer.add("the MCP HTTP server", () => mcpHttp.close());

    const approvers = localApprovers(config.console.users);
    const prefix = clusterStatePrefix(localConfig);
    const { executor, store: actions } = startExecutorFromConfig({
      config: localConfig,
      redis,
      audit,
      logger: logger.child({ component: "executor" }),
      cluster: { server: cluster.server, caPem: cluster.caPem },
      actionKey,
      localMode: true,
      writePause: async () =>
        (await isWritePaused(redis, prefix)) ? await writePauseStatus(redis, prefix) : undefined,
      closer,
    });
    const reconciled = await executor.reconcile();
    if (reconciled.length > 0) progress(`marked ${reconciled.length} interrupted action(s) (never re-run)`);

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
    const anomalies = anomalyDetectorFromConfig(localConfig, { redis, audit, logger, sink: alertSink });
    observeAnomalies = anomalies.observer;
    const callTool = async (
      name: string,
      args: Record<string, unknown>,
      caller: {
        requester: unknown;
        conversation: unknown;
        prompt: string | undefined;
        reason: string | undefined;
      },
    ): Promise<CallToolResult> =>
      (await mcp.client.callTool(
        {
          name,
          arguments: args,
          _meta: callerMeta({ ...caller, prompt: caller.prompt || undefined }),
        },
        undefined,
        { timeout: 60_000 },
      )) as CallToolResult;

    const session: ConsoleSession = createConsoleSession({
      hub,
      logger: logger.child({ component: "console" }),
      approvers,
      callTool,
      parseDirectCommand,
      runAgentTurn: agentAdapter(config, mcp, logger, approvers, (id) => actions.get(id)),
      loadAction: (id) => actions.get(id),
      decide: (request) => executor.decide(request),
      auditStory: async (actionId) => {
        let records = memory.filter((record) => record.actionId === actionId);
        if (records.length === 0)
          records = readAuditFile(auditFile).filter((record) => record.actionId === actionId);
        const story = actionStory(records, actionId);
        return { actionId, lines: story.lines };
      },
      directCommandHelp: CONSOLE_DIRECT_COMMANDS,
      resumeWrites: async (user) => {
        if (!approvers.includes(user.id)) return `${user.id} is not an approver, so cannot resume writes.`;
        const lifted = await anomalies.resume(user);
        return lifted
          ? `Writes resumed by ${user.id} (they were paused by ${lifted.rule}: ${lifted.reason}).`
          : "Writes were not paused.";
      },
    });
    postAlert = (title, text) => session.postAlert(title, text);
    closer.add("the console session", async () => {
      session.close();
      await session.drain();
    });

    // Expired cards change state in Redis; show that in the thread too.
    const sweep = setInterval(() => {
      executor
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

    progress("starting the triage watcher");
    const watcher = triageWatcherFromConfig({
      config,
      kube,
      redis,
      sink: consoleTriageSink(session),
      logger,
      audit,
    });
    await watcher.start();
    closer.add("the triage watcher", () => watcher.stop());

    const server: ConsoleServer = createConsoleServer({
      host: config.console.host,
      port: config.console.port,
      users: config.console.users,
      hub,
      session,
      logger: logger.child({ component: "console-http" }),
      status: () => ({
        cluster: config.kube.clusterName,
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
    logger.info({ consoleUrl, mcpUrl: mcpHttp.url, cluster: cluster.server }, "local mode ready");

    return {
      consoleUrl,
      mcpUrl: mcpHttp.url,
      cluster: { server: cluster.server, source: cluster.source },
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
