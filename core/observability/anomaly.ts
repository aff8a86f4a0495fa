import { clusterKeyPrefix } from "../config/clusters.ts";
import type { Redis } from "ioredis";
import { fanOutAlertSink, loggerAlertSink, redisAlertSink, type Alert, type AlertSink } from "./alerts.ts";
import type { AuditLog, AuditObserver, AuditRecord } from "../audit/log.ts";
import type { Config } from "../config/config.ts";
import { describeError } from "../errors.ts";
import { identityKey, type Identity } from "../identity/identity.ts";
import type { Logger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";
import { actionTypes, type ActionTypeName } from "../actions/types/index.ts";

/**
 * Anomaly detection over the audit stream, with sliding-window counters in
 * Redis so every replica counts into the same window: more than N executed
 * deletes or evictions a minute, bursts of policy denials (the agent probing
 * blocked namespaces), writes proposed in protected namespaces. Only what
 * happened pauses writes: a burst of executed deletes pauses new write
 * approvals cluster-wide (a Redis key the executor checks) for a bounded time
 * (DEPUTY_WRITE_PAUSE_TTL_SECONDS) or until an approver resumes them.
 * Proposals, refusals and denials only alert: otherwise anyone who can make
 * the agent propose something refused (a prompt injection can) could freeze
 * every write in the cluster.
 */

export type AnomalyRule =
  | "delete-burst"
  | "denial-burst"
  | "protected-namespace-write"
  | "action-tampered"
  | "lease-unrevoked"
  | "lease-revoked";

export interface AnomalyThresholds {
  /** Alert when MORE than this many delete/evict actions fall in one window. */
  deletesPerWindow: number;
  /** Alert when MORE than this many policy denials fall in one window. */
  denialsPerWindow: number;
  /** Window length; one minute unless a test shortens it. */
  windowMs?: number;
  /** Namespaces where any proposed write is an anomaly (kube-system and configured ones). */
  protectedNamespaces: readonly string[];
}

export interface AnomalyDetectorDeps {
  redis: Redis;
  /** Key prefix shared by all replicas of this cluster's components (clusterStatePrefix). */
  prefix: string;
  /** The cluster counted here; alerts name it. */
  cluster?: string;
  thresholds: AnomalyThresholds;
  sink: AlertSink;
  metrics?: Metrics;
  /** Alerts and resumes are audited too. */
  audit?: AuditLog;
  logger?: Logger;
  /** Rules that pause write approvals when they fire (only delete-burst counts what happened). */
  pauseOn?: readonly AnomalyRule[];
  /** How long a pause lasts unless resumed; default 15 minutes. */
  pauseTtlSeconds?: number;
  /** Tools that delete or evict (each action counts once). */
  deleteTools?: readonly string[];
  /** Tools that change the cluster. */
  writeTools?: readonly string[];
}

export interface AnomalyDetector {
  /** Count one audit record; resolves to the alerts it fired (usually none). */
  observe(record: AuditRecord): Promise<Alert[]>;
  /** An AuditLog observer: observe() in the background, failures logged. */
  readonly observer: AuditObserver;
  /** An approver lifts the write pause; audited. Resolves to the pause that was lifted, if any. */
  resume(by: Identity): Promise<WritePause | undefined>;
}

export const DEFAULT_DELETE_TOOLS: readonly ActionTypeName[] = ["delete_pod", "drain_node"];

export const DEFAULT_WRITE_TOOLS: readonly string[] = actionTypes.map((type) => type.name);

/**
 * The Redis key prefix of this process's cluster state (anomaly counters and
 * the write pause): a burst of deletes in one cluster pauses that cluster's
 * writes only, even when every cluster's components share one Redis.
 */
export function clusterStatePrefix(config: Pick<Config, "redis" | "kube">): string {
  return clusterKeyPrefix(config.redis.prefix, config.kube.clusterName);
}

export const DEFAULT_PAUSE_ON: readonly AnomalyRule[] = ["delete-burst"];
export const DEFAULT_PAUSE_TTL_SECONDS = 900;

/** Rules that count things that happened; only these may pause writes. */
const PAUSABLE: ReadonlySet<AnomalyRule> = new Set(["delete-burst"]);

/** Thresholds and pause rules as configured (DEPUTY_ANOMALY_*, DEPUTY_PROTECTED_NAMESPACES). */
export function anomalySettings(
  config: Config,
): Pick<AnomalyDetectorDeps, "thresholds" | "pauseOn" | "prefix" | "cluster" | "pauseTtlSeconds"> {
  return {
    prefix: clusterStatePrefix(config),
    cluster: config.kube.clusterName,
    thresholds: {
      deletesPerWindow: config.observability.deletesPerMinute,
      denialsPerWindow: config.observability.denialsPerMinute,
      protectedNamespaces: config.guardrails.protectedNamespaces,
    },
    pauseOn: config.observability.pauseWritesOnAnomaly ? DEFAULT_PAUSE_ON : [],
    pauseTtlSeconds: config.observability.writePauseTtlSeconds,
  };
}

/**
 * Add a member to a sliding window and say whether this addition crossed the
 * threshold first. Server time (TIME) keeps replicas with skewed clocks in
 * one window; the cooldown key makes exactly one caller per window fire.
 * KEYS[1] window (sorted set), KEYS[2] cooldown; ARGV member, windowMs, threshold.
 */
const WINDOW_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], 'NX', now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], window)
local count = redis.call('ZCARD', KEYS[1])
local fire = 0
if count > tonumber(ARGV[3]) then
  if redis.call('SET', KEYS[2], now, 'NX', 'PX', window) then fire = 1 end
end
return {count, fire}
`;

export interface WindowCount {
  count: number;
  /** True for exactly one caller per window once the count exceeds the threshold. */
  fired: boolean;
}

/** A sliding-window counter shared through Redis (also used by the triage rate limit). */
export async function countInWindow(
  redis: Redis,
  key: string,
  member: string,
  windowMs: number,
  threshold: number,
): Promise<WindowCount> {
  const [count, fired] = (await redis.eval(
    WINDOW_SCRIPT,
    2,
    key,
    `${key}:fired`,
    member,
    String(windowMs),
    String(threshold),
  )) as [number, number];
  return { count, fired: fired === 1 };
}

/**
 * Rate limit: admit `member` only while fewer than `limit` members are in the
 * window; a refused attempt does not use up the budget.
 */
const ADMIT_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], window)
return 1
`;

export async function admitInWindow(
  redis: Redis,
  key: string,
  member: string,
  windowMs: number,
  limit: number,
): Promise<boolean> {
  return (await redis.eval(ADMIT_SCRIPT, 1, key, member, String(windowMs), String(limit))) === 1;
}

// --- the write pause (circuit breaker) ----------------------------------------

export interface WritePause {
  rule: string;
  reason: string;
  since: string;
  /** When the pause ends by itself (ISO time). */
  until?: string;
}

/** How people lift a pause, for alerts and refusals. */
export const RESUME_HINT =
  "an approver can resume them with /deputy resume-writes or the Resume writes button on the alert";

function pauseKey(prefix: string): string {
  return `${prefix}writes:paused`;
}

/** True while new write approvals are paused cluster-wide. The executor calls this in decide. */
export async function isWritePaused(redis: Redis, prefix = "deputy:"): Promise<boolean> {
  return (await redis.exists(pauseKey(prefix))) === 1;
}

export async function writePauseStatus(redis: Redis, prefix = "deputy:"): Promise<WritePause | undefined> {
  const raw = await redis.get(pauseKey(prefix));
  if (raw === null) return undefined;
  try {
    return JSON.parse(raw) as WritePause;
  } catch {
    return { rule: "unknown", reason: raw, since: "" };
  }
}

/**
 * A write pause stored by a version that kept one pause for the whole
 * deployment (`<prefix>writes:paused`) becomes this cluster's pause, with the
 * time it has left: an upgrade in the middle of a pause does not lift it.
 * Kept when this cluster already has a pause of its own. True when moved.
 */
export async function adoptLegacyWritePause(
  redis: Redis,
  config: Pick<Config, "redis" | "kube">,
): Promise<boolean> {
  const legacy = pauseKey(config.redis.prefix);
  const current = pauseKey(clusterStatePrefix(config));
  // RENAMENX keeps the key's TTL, so the pause still ends when it would have.
  return (
    (await redis.renamenx(legacy, current).catch((error: unknown) => {
      if (/no such key/i.test(describeError(error))) return 0;
      throw error;
    })) === 1
  );
}

/**
 * Pause new write approvals for `ttlSeconds` or until resumeWrites; keeps the
 * first pause's reason if already paused. The expiry is Redis's, so a pause
 * nobody lifts cannot outlive its TTL.
 */
export async function pauseWrites(
  redis: Redis,
  pause: { rule: string; reason: string },
  prefix = "deputy:",
  ttlSeconds = DEFAULT_PAUSE_TTL_SECONDS,
): Promise<boolean> {
  const now = Date.now();
  const value: WritePause = {
    ...pause,
    since: new Date(now).toISOString(),
    until: new Date(now + ttlSeconds * 1000).toISOString(),
  };
  return (await redis.set(pauseKey(prefix), JSON.stringify(value), "EX", ttlSeconds, "NX")) === "OK";
}

/** Lift the pause. Only an approver may call this (checked by the caller). */
export async function resumeWrites(redis: Redis, prefix = "deputy:"): Promise<WritePause | undefined> {
  const raw = (await redis.call("GETDEL", pauseKey(prefix))) as string | null;
  if (raw === null) return undefined;
  try {
    return JSON.parse(raw) as WritePause;
  } catch {
    return { rule: "unknown", reason: raw, since: "" };
  }
}

// --- the detector --------------------------------------------------------------

function namespaceOf(record: AuditRecord): string | undefined {
  const namespace = record.arguments?.namespace;
  return typeof namespace === "string" ? namespace : undefined;
}

function target(record: AuditRecord): string {
  const namespace = namespaceOf(record);
  const name = record.arguments?.name ?? record.arguments?.pod ?? record.arguments?.node;
  const object = typeof name === "string" ? (namespace ? `${namespace}/${name}` : name) : (namespace ?? "");
  return `${record.tool ?? "a write"}${object ? ` ${object}` : ""}`;
}

function requester(record: AuditRecord): string {
  return record.actor ? (record.actor.name ?? identityKey(record.actor)) : "an unknown requester";
}

export function createAnomalyDetector(deps: AnomalyDetectorDeps): AnomalyDetector {
  const windowMs = deps.thresholds.windowMs ?? 60_000;
  const windowText = windowMs % 60_000 === 0 ? `${windowMs / 60_000} min` : `${windowMs / 1000} s`;
  const deleteTools = new Set(deps.deleteTools ?? DEFAULT_DELETE_TOOLS);
  const writeTools = new Set(deps.writeTools ?? DEFAULT_WRITE_TOOLS);
  const protectedNamespaces = new Set(deps.thresholds.protectedNamespaces);
  const pauseOn = new Set((deps.pauseOn ?? DEFAULT_PAUSE_ON).filter((rule) => PAUSABLE.has(rule)));
  const pauseTtlSeconds = deps.pauseTtlSeconds ?? DEFAULT_PAUSE_TTL_SECONDS;
  const key = (rule: AnomalyRule): string => `${deps.prefix}anomaly:{${rule}}`;

  async function fire(
    rule: AnomalyRule,
    record: AuditRecord,
    text: string,
    payload: Record<string, unknown>,
  ): Promise<Alert> {
    let writesPaused = false;
    if (pauseOn.has(rule)) {
      await pauseWrites(deps.redis, { rule, reason: text }, deps.prefix, pauseTtlSeconds);
      writesPaused = true;
    }
    const minutes = Math.round(pauseTtlSeconds / 60);
    const where = deps.cluster ? `[cluster ${deps.cluster}] ` : "";
    const alert: Alert = {
      rule,
      severity: writesPaused ? "critical" : "warning",
      text: writesPaused
        ? `${where}${text} New write approvals are paused cluster-wide for ${minutes} min; ${RESUME_HINT}.`
        : `${where}${text}`,
      writesPaused,
      at: new Date().toISOString(),
      payload: { ...payload, actionId: record.actionId, tool: record.tool },
    };
    deps.metrics?.anomaly(rule);
    deps.audit?.record({
      kind: "anomaly",
      rule,
      actionId: record.actionId,
      actor: record.actor,
      tool: record.tool,
      message: alert.text,
      details: { ...payload, writesPaused },
    });
    try {
      await deps.sink.postAlert(alert);
    } catch (error) {
      deps.logger?.error({ err: describeError(error), rule }, "posting an anomaly alert failed");
    }
    return alert;
  }

  async function observe(record: AuditRecord): Promise<Alert[]> {
    const alerts: Alert[] = [];
    const member = record.actionId ?? record.hash;
    const isWrite = record.tool !== undefined && writeTools.has(record.tool);

    // What happened, not what was asked: a proposal deletes nothing until a person approves it.
    if (deleteTools.has(record.tool ?? "") && record.kind === "execution" && record.outcome === "succeeded") {
      const threshold = deps.thresholds.deletesPerWindow;
      const { count, fired } = await countInWindow(
        deps.redis,
        key("delete-burst"),
        member,
        windowMs,
        threshold,
      );
      if (fired) {
        alerts.push(
          await fire(
            "delete-burst",
            record,
            `Anomaly: ${count} executed delete or evict actions in ${windowText} (more than ${threshold}); ` +
              `latest ${target(record)} for ${requester(record)}.`,
            { count, threshold, windowMs },
          ),
        );
      }
    }

    if (record.kind === "policy_decision" && (record.decision === "deny" || record.decision === "refused")) {
      const threshold = deps.thresholds.denialsPerWindow;
      const { count, fired } = await countInWindow(
        deps.redis,
        key("denial-burst"),
        record.hash,
        windowMs,
        threshold,
      );
      if (fired) {
        alerts.push(
          await fire(
            "denial-burst",
            record,
            `Anomaly: ${count} policy denials in ${windowText} (more than ${threshold}); latest ${target(record)} ` +
              `for ${requester(record)} refused by rule ${record.rule ?? "unknown"}. Something may be probing the guardrails.`,
            { count, threshold, windowMs, rule: record.rule },
          ),
        );
      }
    }

    // A write credential outliving its action (OpenBao sealed), and the moment it was finally revoked.
    // The executor records "lease-not-revoked" / "lease-revoked-late"; the alerts' rules differ so they never loop.
    if (
      record.kind === "anomaly" &&
      (record.rule === "lease-not-revoked" || record.rule === "lease-revoked-late")
    ) {
      alerts.push(
        await fire(
          record.rule === "lease-not-revoked" ? "lease-unrevoked" : "lease-revoked",
          record,
          `Anomaly: ${record.message ?? `lease ${record.leaseId ?? "(unknown)"}`}`,
          {
            leaseId: record.leaseId,
            serviceAccount: record.details?.serviceAccount,
          },
        ),
      );
    }

    // A stored action whose state went back (rejected → pending): someone with Redis access rolled it back.
    if (record.kind === "anomaly" && record.rule === "state-regressed") {
      alerts.push(
        await fire(
          "action-tampered",
          record,
          `Anomaly: stored action ${record.actionId ?? "(unknown)"} moved backwards in Redis (from ${String(record.details?.proven ?? "decided")} to ${String(record.details?.stored ?? "pending")}); it was not decided or run. Check who can write to Deputy's Redis.`,
          { actionId: record.actionId },
        ),
      );
    }

    // A stored action that failed its integrity check: someone with Redis access changed it.
    if (record.kind === "anomaly" && record.rule === "tampered") {
      alerts.push(
        await fire(
          "action-tampered",
          record,
          `Anomaly: stored action ${record.actionId ?? "(unknown)"} failed its integrity check: what is in Redis is not what was proposed, so it was not run. Check who can write to Deputy's Redis.`,
          { actionId: record.actionId },
        ),
      );
    }

    const namespace = namespaceOf(record);
    if (
      isWrite &&
      namespace !== undefined &&
      protectedNamespaces.has(namespace) &&
      (record.kind === "tool_call" || record.kind === "policy_decision" || record.kind === "pending_action")
    ) {
      const { fired } = await countInWindow(
        deps.redis,
        key("protected-namespace-write"),
        member,
        windowMs,
        0,
      );
      if (fired) {
        alerts.push(
          await fire(
            "protected-namespace-write",
            record,
            `Anomaly: a write was proposed in protected namespace ${namespace}: ${target(record)} for ${requester(record)}.`,
            { namespace, windowMs },
          ),
        );
      }
    }
    return alerts;
  }

  return {
    observe,
    observer(record) {
      observe(record).catch((error: unknown) => {
        deps.logger?.error({ err: describeError(error), kind: record.kind }, "anomaly detection failed");
      });
    },
    async resume(by) {
      const lifted = await resumeWrites(deps.redis, deps.prefix);
      if (lifted) {
        deps.audit?.record({
          kind: "anomaly",
          rule: "writes-resumed",
          actor: by,
          approver: by,
          message: `${by.name ?? identityKey(by)} resumed write approvals (paused by ${lifted.rule} since ${lifted.since})`,
        });
      }
      return lifted;
    },
  };
}

/** The detector as configured, alerting into `sink`: where alerts go is each process's choice. */
export function anomalyDetectorFromConfig(
  config: Config,
  deps: { redis: Redis; audit: AuditLog; logger: Logger; sink: AlertSink; metrics?: Metrics | undefined },
): AnomalyDetector {
  return createAnomalyDetector({
    redis: deps.redis,
    ...anomalySettings(config),
    sink: deps.sink,
    audit: deps.audit,
    logger: deps.logger.child({ component: "anomaly" }),
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
  });
}

/**
 * The anomaly detector of a headless process (deputy mcp, deputy executor):
 * counts in Redis with every replica, logs each alert, and queues it for the
 * bot to post in SLACK_ALERT_CHANNEL.
 */
export function headlessAnomalyObserver(deps: {
  config: Config;
  redis: Redis;
  audit: AuditLog;
  logger: Logger;
  metrics?: Metrics;
}): AuditObserver {
  const logger = deps.logger.child({ component: "anomaly" });
  return anomalyDetectorFromConfig(deps.config, {
    ...deps,
    sink: fanOutAlertSink(loggerAlertSink(logger), redisAlertSink(deps.redis, deps.config.redis.prefix)),
  }).observer;
}

/** The write pauses in force among `clusters` (named), for a bot serving several. */
export async function writePausesOf(
  redis: Redis,
  prefix: string,
  clusters: readonly string[],
): Promise<Array<WritePause & { cluster: string }>> {
  const pauses = await Promise.all(
    clusters.map(async (cluster) => {
      const pause = await writePauseStatus(redis, clusterKeyPrefix(prefix, cluster));
      return pause ? { ...pause, cluster } : undefined;
    }),
  );
  return pauses.filter((pause) => pause !== undefined);
}

/** Lift the write pause of each of `clusters`; the ones that were paused, named. */
export async function resumeWritesOf(
  redis: Redis,
  prefix: string,
  clusters: readonly string[],
): Promise<Array<WritePause & { cluster: string }>> {
  const lifted = [];
  for (const cluster of clusters) {
    const pause = await resumeWrites(redis, clusterKeyPrefix(prefix, cluster));
    if (pause) lifted.push({ ...pause, cluster });
  }
  return lifted;
}
