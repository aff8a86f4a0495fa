import { readFileSync } from "node:fs";
import { connect as connectTls } from "node:tls";
import { Redis, type RedisOptions } from "ioredis";
import { DeputyError, describeError } from "../errors.ts";
import type { Logger } from "../observability/logger.ts";
import { describeRedisLocation, type RedisConfig, type RedisDurability } from "./redis-config.ts";

export { describeRedisLocation, type RedisConfig, type RedisDurability };

/**
 * Redis holds Deputy's state (pending actions, conversations, dedupe claims,
 * rate limits). ioredis reconnects by itself and emits "error" on every failed
 * attempt; without a listener Node prints each one to stderr, dozens of lines
 * per outage. `watchRedisHealth` turns that into one structured line when the
 * connection is lost and one when it is back.
 */
export function watchRedisHealth(redis: Redis, logger: Logger, name = "redis"): void {
  let down: { since: number; attempts: number } | undefined;
  redis.on("error", (error: unknown) => {
    if (down) {
      down.attempts++;
      return;
    }
    down = { since: Date.now(), attempts: 1 };
    logger.error(
      { redis: name, err: describeError(error) },
      "Redis is unavailable; reconnecting (logged once until it is back)",
    );
  });
  redis.on("ready", () => {
    if (!down) return;
    const { since, attempts } = down;
    down = undefined;
    logger.info(
      { redis: name, downMs: Date.now() - since, failedAttempts: attempts },
      "Redis is available again",
    );
  });
}

const CLOSED_MESSAGES = new Set([
  "Connection is closed.",
  "Stream isn't writeable and enableOfflineQueue options is false",
]);

/**
 * True when an error means the state store could not be reached (as opposed
 * to a command Redis refused): ioredis gave up after its retries, or the
 * connection closed under the command. Causes are followed, since stores may
 * wrap what ioredis threw.
 */
export function isRedisUnavailable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 5; depth++) {
    if (current.name === "MaxRetriesPerRequestError" || CLOSED_MESSAGES.has(current.message)) return true;
    current = current.cause;
  }
  return false;
}

/** What each client made by `createRedisClient` must have replicated before Deputy goes on. */
const durabilityOfClient = new WeakMap<Redis, RedisDurability>();

/**
 * The one way Deputy connects to Redis: a single server by URL, or the
 * primary the sentinels name (followed across a failover: ioredis asks the
 * sentinels again and listens for +switch-master), with ACL user, password
 * and TLS for the data nodes and the sentinels as configured. `options` are
 * the caller's connection habits (retries, lazy connect). The client carries
 * the configured durability, which the action store and the click dedupe
 * read (`durabilityOf`).
 */
export function createRedisClient(config: RedisConfig, options: RedisOptions = {}): Redis {
  const ca = config.caFile ? readCa(config.caFile) : undefined;
  const tlsOptions = ca ? { ca } : {};
  const { connection, auth } = config;
  let redis: Redis;
  if (connection.kind === "url") {
    const overridden =
      auth.username !== undefined || auth.password !== undefined || config.tls || ca !== undefined;
    // Behind one address that fails over (a managed primary with replicas), as with Sentinel below.
    const failsOver = config.durability.replicas > 0 ? { autoResendUnfulfilledCommands: false } : {};
    if (!overridden) redis = new Redis(connection.url, { ...options, ...failsOver });
    else {
      const url = new URL(connection.url);
      if (auth.username !== undefined) url.username = encodeURIComponent(auth.username);
      if (auth.password !== undefined) url.password = encodeURIComponent(auth.password);
      redis = new Redis(url.toString(), {
        ...options,
        ...failsOver,
        ...(config.tls || url.protocol === "rediss:" ? { tls: tlsOptions } : {}),
      });
    }
  } else {
    redis = new Redis({
      ...options,
      sentinels: connection.sentinels,
      name: connection.masterName,
      db: connection.db,
      ...(auth.username !== undefined ? { username: auth.username } : {}),
      ...(auth.password !== undefined ? { password: auth.password } : {}),
      ...(config.sentinelAuth.username !== undefined
        ? { sentinelUsername: config.sentinelAuth.username }
        : {}),
      ...(config.sentinelAuth.password !== undefined
        ? { sentinelPassword: config.sentinelAuth.password }
        : {}),
      ...(config.tls ? { tls: tlsOptions, enableTLSForSentinelMode: true } : {}),
      ...(config.sentinelTls ? { sentinelTLS: tlsOptions } : {}),
      // A failover is noticed when the sentinels announce it, not only when the old primary's
      // connection breaks (a demoted primary that stays up would otherwise answer READONLY).
      failoverDetector: true,
      // A command sent before the connection broke is failed, not sent again to the new
      // primary: a claim or transition that already ran must not run twice, and a WAIT
      // sent again would be measured on a connection that wrote nothing.
      autoResendUnfulfilledCommands: false,
    });
    // Unless the caller asked for no retries (deputy doctor's one look).
    if (options.retryStrategy === undefined) reviveAfterSentinelRace(redis);
  }
  durabilityOfClient.set(redis, config.durability);
  return redis;
}

/**
 * ioredis ends a Sentinel client for good when its failover detector hears
 * +switch-master while the client is reconnecting (asking the sentinels after
 * the old primary died): the detector's disconnect makes the connection
 * attempt in flight fail with "Connection is closed.", and a failed attempt
 * ends the client instead of retrying. A component would then stay without
 * its state store until restarted, after every such failover. A client that
 * ends without being closed by Deputy is therefore connected again (after a
 * short pause; commands meanwhile fail, none is sent twice).
 */
function reviveAfterSentinelRace(redis: Redis): void {
  let closing = false;
  const disconnect = redis.disconnect.bind(redis);
  redis.disconnect = (reconnect = false): void => {
    if (!reconnect) closing = true;
    disconnect(reconnect);
  };
  const quit = redis.quit.bind(redis);
  redis.quit = ((...args: Parameters<Redis["quit"]>) => {
    closing = true;
    return quit(...args);
  }) as Redis["quit"];
  redis.on("end", () => {
    if (closing) return;
    setTimeout(() => {
      if (!closing && redis.status === "end") redis.connect().catch(() => undefined);
    }, 200).unref();
  });
}

/** Node's TLS errors for a certificate it does not trust, by code or by message. */
const TLS_UNTRUSTED =
  /SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|ERR_TLS_CERT_ALTNAME_INVALID|self[- ]signed certificate|unable to verify/i;

/** True when an error says a TLS peer's certificate is not trusted. */
export function isTlsDistrust(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return TLS_UNTRUSTED.test(`${(error as { code?: string }).code ?? ""} ${error.message}`);
}

/**
 * Why the first TLS endpoint of this configuration (the first sentinel when
 * the sentinels speak TLS, else the URL's or the first data node's address)
 * does not trust its certificate with the configured CA, or undefined. For
 * diagnosis only: ioredis's Sentinel connector reports a refused certificate
 * as "Connection is closed", which names neither TLS nor the CA.
 */
export async function tlsTrustProblem(config: RedisConfig, timeoutMs = 3_000): Promise<string | undefined> {
  const { connection } = config;
  let endpoint: { host: string; port: number } | undefined;
  if (connection.kind === "sentinel") {
    if (config.sentinelTls) endpoint = connection.sentinels[0];
  } else {
    const url = new URL(connection.url);
    if (config.tls || url.protocol === "rediss:")
      endpoint = { host: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port || 6379) };
  }
  if (!endpoint) return undefined;
  const { host, port } = endpoint;
  const ca = config.caFile ? readCa(config.caFile) : undefined;
  return new Promise((resolve) => {
    const socket = connectTls({ host, port, ...(ca ? { ca } : {}), timeout: timeoutMs });
    const done = (problem: string | undefined): void => {
      socket.destroy();
      resolve(problem);
    };
    socket.once("secureConnect", () => done(undefined));
    socket.once("timeout", () => done(undefined));
    socket.once("error", (error) =>
      done(isTlsDistrust(error) ? `${host}:${port}: ${error.message}` : undefined),
    );
  });
}

function readCa(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new DeputyError(
      "CONFIG_INVALID",
      `DEPUTY_REDIS_TLS_CA_FILE ${file} cannot be read: ${describeError(error)}`,
      { cause: error },
    );
  }
}

/** The replication a client made by `createRedisClient` was configured with; none for any other client. */
export function durabilityOf(redis: Redis): RedisDurability {
  return durabilityOfClient.get(redis) ?? { replicas: 0, timeoutMs: 0 };
}

/**
 * A write Redis applied on the primary that not enough replicas confirmed
 * in time: after a failover it may be gone. `what` names it in the sentence.
 */
export class ReplicationUnconfirmed extends DeputyError {
  readonly acknowledged: number;
  readonly wanted: number;
  constructor(what: string, acknowledged: number, wanted: number, timeoutMs: number, cause?: unknown) {
    super(
      "UPSTREAM_FAILED",
      `Redis could not confirm that ${what} reached ${wanted} replica${wanted === 1 ? "" : "s"} within ${timeoutMs} ms (${acknowledged} confirmed)${cause ? `: ${describeError(cause)}` : ""}; if Redis failed over now it could be lost`,
      { details: { rule: "replication-unconfirmed", acknowledged, wanted }, ...(cause ? { cause } : {}) },
    );
    this.name = "ReplicationUnconfirmed";
    this.acknowledged = acknowledged;
    this.wanted = wanted;
  }
}

/**
 * Run `write` and wait (Redis WAIT) until `durability.replicas` replicas have
 * it, or throw ReplicationUnconfirmed. WAIT counts every write this
 * connection sent before it, so it is only believed when the connection is
 * the one the write went out on: a reconnection in between (a failover) is
 * unconfirmed. With no replica configured, nothing is sent: today's behaviour.
 */
export async function writeReplicated<T>(
  redis: Redis,
  durability: RedisDurability,
  what: string,
  write: () => Promise<T>,
): Promise<T> {
  if (durability.replicas <= 0) return write();
  // Before the write, so that a reconnection during it counts; a client not connected yet
  // connects for the write itself.
  const before = redis.status === "ready" ? redis.stream : undefined;
  const value = await write();
  await confirmReplicated(redis, durability, what, before ?? redis.stream);
  return value;
}

/** WAIT for the configured replicas after writes already sent on `stream` (the current connection by default). */
export async function confirmReplicated(
  redis: Redis,
  durability: RedisDurability,
  what: string,
  stream: unknown = redis.stream,
): Promise<void> {
  if (durability.replicas <= 0) return;
  let acknowledged: number;
  try {
    acknowledged = await sharedWait(redis, durability);
  } catch (error) {
    throw new ReplicationUnconfirmed(what, 0, durability.replicas, durability.timeoutMs, error);
  }
  if (redis.stream !== stream) acknowledged = 0;
  if (acknowledged < durability.replicas)
    throw new ReplicationUnconfirmed(what, acknowledged, durability.replicas, durability.timeoutMs);
}

/**
 * WAIT blocks its connection until the replicas answer, and every command
 * sent after it on that connection queues behind it. So the confirmations
 * asked for in one turn of the event loop share one WAIT, sent on the next:
 * it covers every write they made, since each was answered before it was sent.
 */
const waitsToSend = new WeakMap<Redis, Map<string, Promise<number>>>();

function sharedWait(redis: Redis, durability: RedisDurability): Promise<number> {
  let batches = waitsToSend.get(redis);
  if (!batches) {
    batches = new Map();
    waitsToSend.set(redis, batches);
  }
  const key = `${durability.replicas}/${durability.timeoutMs}`;
  let batch = batches.get(key);
  if (!batch) {
    const open = batches;
    batch = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      // Sent now: who asks from here on waits for the next one.
      open.delete(key);
      return redis.wait(durability.replicas, durability.timeoutMs);
    });
    batches.set(key, batch);
  }
  return batch;
}

/** The primary a client reached and its replicas, from the primary's own word (INFO replication). */
export interface ReplicationStatus {
  role: string;
  /** host:port this client is connected to. */
  address: string;
  connectedReplicas: number;
  /** Replicas whose link is up (state=online). */
  onlineReplicas: number;
}

export async function replicationStatus(redis: Redis): Promise<ReplicationStatus> {
  const info = await redis.info("replication");
  const fields = new Map(
    info
      .split(/\r?\n/)
      .map((line) => line.split(":"))
      .filter((parts) => parts.length >= 2)
      .map(([name, ...rest]) => [name!, rest.join(":")]),
  );
  const replicaLines = [...fields.entries()].filter(([name]) => /^slave\d+$/.test(name));
  const stream = redis.stream as { remoteAddress?: string; remotePort?: number } | undefined;
  return {
    role: fields.get("role") ?? "unknown",
    address: stream?.remoteAddress ? `${stream.remoteAddress}:${stream.remotePort}` : "unknown",
    connectedReplicas: Number(fields.get("connected_slaves") ?? "0"),
    onlineReplicas: replicaLines.filter(([, value]) => value.includes("state=online")).length,
  };
}
