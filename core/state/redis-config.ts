import { DeputyError } from "../errors.ts";

/**
 * Where Deputy's Redis is and how to log in to it: one server by URL
 * (redis://, rediss://), as always, or a primary found through Redis
 * Sentinel — the sentinels' host:port list and the master set name, as the
 * Bitnami and Valkey charts' HA mode expose them, given either as
 * DEPUTY_REDIS_SENTINELS + DEPUTY_REDIS_SENTINEL_MASTER or as one
 * `redis+sentinel://[user:password@]host:port,host:port/master[/db]` URL
 * (`rediss+sentinel://` for TLS to both). Redis Cluster is not supported.
 */

export interface RedisEndpoint {
  host: string;
  port: number;
}

export interface RedisCredentials {
  username?: string | undefined;
  password?: string | undefined;
}

export type RedisConnection =
  | { kind: "url"; url: string }
  | { kind: "sentinel"; sentinels: RedisEndpoint[]; masterName: string; db: number };

/** How many replicas must confirm a write that matters, and for how long to wait (Redis WAIT). */
export interface RedisDurability {
  /** 0: no WAIT is sent (a single Redis, or replication left asynchronous). */
  replicas: number;
  timeoutMs: number;
}

export interface RedisConfig {
  /** REDIS_URL for a single server; a password-free description for Sentinel. */
  url: string;
  prefix: string;
  connection: RedisConnection;
  /** The data nodes' ACL user and password (they win over those in a URL). */
  auth: RedisCredentials;
  sentinelAuth: RedisCredentials;
  tls: boolean;
  sentinelTls: boolean;
  caFile: string | undefined;
  /** KV v2 data path holding password/username/sentinel_password/sentinel_username. */
  secretsFromOpenBao: string | undefined;
  durability: RedisDurability;
}

export interface RedisSettings {
  url: string;
  prefix: string;
  sentinels?: string | undefined;
  sentinelMaster?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  sentinelUsername?: string | undefined;
  sentinelPassword?: string | undefined;
  tls?: boolean | undefined;
  sentinelTls?: boolean | undefined;
  caFile?: string | undefined;
  secretsFromOpenBao?: string | undefined;
  waitReplicas?: number | undefined;
  waitTimeoutMs?: number | undefined;
}

const DEFAULT_MASTER = "mymaster";
const MASTER_NAME = /^[A-Za-z0-9._-]{1,128}$/;
const SENTINEL_URL = /^(rediss?)\+sentinel:\/\/(?:([^@/]*)@)?([^/?#@]+)(?:\/([^/?#]+))?(?:\/(\d+))?\/?$/;

function invalid(message: string): DeputyError {
  return new DeputyError("CONFIG_INVALID", message);
}

/** "host:port,host:port" as endpoints, with a sentence naming the entry that is wrong. */
export function parseSentinelList(list: string, setting: string): RedisEndpoint[] {
  const entries = list
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  if (entries.length === 0) throw invalid(`${setting} names no sentinel (expected host:port,host:port)`);
  return entries.map((entry) => {
    const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(entry);
    const port = match ? Number(match[2]) : 0;
    if (!match || port < 1 || port > 65535) {
      throw invalid(
        `${setting}: "${entry}" is not host:port (e.g. deputy-redis-node-0.deputy-redis-headless:26379)`,
      );
    }
    return { host: match[1]!.replace(/^\[|\]$/g, ""), port };
  });
}

function masterNameOf(name: string, setting: string): string {
  if (!MASTER_NAME.test(name)) {
    throw invalid(`${setting}: "${name}" is not a master set name (letters, digits, ".", "_" and "-")`);
  }
  return name;
}

function decodeUserInfo(userInfo: string | undefined): RedisCredentials {
  if (!userInfo) return {};
  const colon = userInfo.indexOf(":");
  const decode = (text: string): string | undefined => {
    if (text === "") return undefined;
    try {
      return decodeURIComponent(text);
    } catch {
      throw invalid("REDIS_URL: its user or password is not URL-encoded correctly");
    }
  };
  return colon < 0
    ? { password: decode(userInfo) }
    : { username: decode(userInfo.slice(0, colon)), password: decode(userInfo.slice(colon + 1)) };
}

/** The same address without its password, for messages and logs. */
export function redactRedisUrl(url: string): string {
  return url.replace(/^([a-z+]+:\/\/)([^@/]*)@/i, (_, scheme: string, userInfo: string) => {
    const colon = userInfo.indexOf(":");
    return `${scheme}${colon < 0 ? "***" : `${userInfo.slice(0, colon)}:***`}@`;
  });
}

export function parseRedisConfig(settings: RedisSettings): RedisConfig {
  const url = settings.url.trim();
  const sentinelUrl = SENTINEL_URL.exec(url);
  const scheme = /^([a-z+]+):\/\//i.exec(url)?.[1]?.toLowerCase();
  let connection: RedisConnection;
  let urlAuth: RedisCredentials = {};
  let tls = settings.tls ?? false;
  let sentinelTls = settings.sentinelTls ?? false;
  if (settings.sentinels !== undefined && settings.sentinels.trim() !== "") {
    if (scheme === "redis+sentinel" || scheme === "rediss+sentinel") {
      throw invalid(
        "Both REDIS_URL and DEPUTY_REDIS_SENTINELS name sentinels; keep one (DEPUTY_REDIS_SENTINELS with DEPUTY_REDIS_SENTINEL_MASTER, or a redis+sentinel:// URL)",
      );
    }
    connection = {
      kind: "sentinel",
      sentinels: parseSentinelList(settings.sentinels, "DEPUTY_REDIS_SENTINELS"),
      masterName: masterNameOf(settings.sentinelMaster ?? DEFAULT_MASTER, "DEPUTY_REDIS_SENTINEL_MASTER"),
      db: 0,
    };
  } else if (scheme === "redis+sentinel" || scheme === "rediss+sentinel") {
    if (!sentinelUrl) {
      throw invalid(
        `REDIS_URL "${redactRedisUrl(url)}" is not redis+sentinel://[user:password@]host:port[,host:port…]/master-name[/db]`,
      );
    }
    if (settings.sentinelMaster !== undefined) {
      throw invalid(
        "DEPUTY_REDIS_SENTINEL_MASTER is set, but REDIS_URL already names the master set; keep one",
      );
    }
    const db = Number(sentinelUrl[5] ?? "0");
    connection = {
      kind: "sentinel",
      sentinels: parseSentinelList(sentinelUrl[3]!, "REDIS_URL"),
      masterName: masterNameOf(sentinelUrl[4] ?? DEFAULT_MASTER, "REDIS_URL"),
      db,
    };
    urlAuth = decodeUserInfo(sentinelUrl[2]);
    if (sentinelUrl[1] === "rediss") {
      tls = true;
      sentinelTls = true;
    }
  } else if (scheme === "redis" || scheme === "rediss") {
    try {
      new URL(url);
    } catch {
      throw invalid(`REDIS_URL "${redactRedisUrl(url)}" is not a URL (e.g. redis://127.0.0.1:6379)`);
    }
    connection = { kind: "url", url };
    if (scheme === "rediss") tls = true;
  } else {
    throw invalid(
      `REDIS_URL must start with redis://, rediss://, redis+sentinel:// or rediss+sentinel://, got "${redactRedisUrl(url).slice(0, 40)}"`,
    );
  }
  if (connection.kind === "url") {
    const stray = (
      [
        ["DEPUTY_REDIS_SENTINEL_MASTER", settings.sentinelMaster],
        ["DEPUTY_REDIS_SENTINEL_USERNAME", settings.sentinelUsername],
        ["DEPUTY_REDIS_SENTINEL_PASSWORD", settings.sentinelPassword],
        ["DEPUTY_REDIS_SENTINEL_TLS", settings.sentinelTls ? "true" : undefined],
      ] as const
    ).filter(([, value]) => value !== undefined);
    if (stray.length > 0) {
      throw invalid(
        `${stray.map(([name]) => name).join(", ")} ${stray.length > 1 ? "are" : "is"} set but no sentinel is configured: set DEPUTY_REDIS_SENTINELS (or a redis+sentinel:// REDIS_URL), or remove ${stray.length > 1 ? "them" : "it"}`,
      );
    }
  }
  const description =
    connection.kind === "url"
      ? url
      : `${tls ? "rediss" : "redis"}+sentinel://${connection.sentinels
          .map(({ host, port }) => `${host.includes(":") ? `[${host}]` : host}:${port}`)
          .join(",")}/${connection.masterName}${connection.db ? `/${connection.db}` : ""}`;
  return {
    url: description,
    prefix: settings.prefix,
    connection,
    auth: {
      username: settings.username ?? urlAuth.username,
      password: settings.password ?? urlAuth.password,
    },
    sentinelAuth: { username: settings.sentinelUsername, password: settings.sentinelPassword },
    tls,
    sentinelTls,
    caFile: settings.caFile,
    secretsFromOpenBao: settings.secretsFromOpenBao,
    durability: { replicas: settings.waitReplicas ?? 0, timeoutMs: settings.waitTimeoutMs ?? 500 },
  };
}

/** Where Redis is, in words, never with a password: "sentinels a:26379,b:26379 (master mymaster)". */
export function describeRedisLocation(config: Pick<RedisConfig, "connection">): string {
  const { connection } = config;
  if (connection.kind === "url") return redactRedisUrl(connection.url);
  return `sentinels ${connection.sentinels.map(({ host, port }) => `${host}:${port}`).join(", ")} (master set ${connection.masterName})`;
}
