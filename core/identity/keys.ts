import { randomBytes } from "node:crypto";
import { z } from "zod";
import { DeputyError, describeError } from "../errors.ts";
import type { Logger } from "../observability/logger.ts";

/**
 * Deputy's own HMAC keys, 32 random bytes each, one per purpose:
 * - `action`: authenticates stored pending actions (Redis is shared and not
 *   trusted for integrity);
 * - `mcpCaller`: the bot signs its requests to the MCP server, which verifies;
 * - `executorCaller`: the bot signs its requests to the executor, which verifies.
 *
 * In a cluster they live in OpenBao KV v2, one entry per key
 * (`<path>/action`, `<path>/mcp-caller`, `<path>/executor-caller`, field
 * `key`, base64), so OpenBao policies give each component only the keys it
 * needs. Local mode generates them in memory at every start; tests generate
 * their own. Key bytes are never logged and never leave the process.
 */
export type KeyPurpose = "action" | "mcpCaller" | "executorCaller";

export type DeputyKeys = {
  action?: Buffer;
  mcpCaller?: Buffer;
  executorCaller?: Buffer;
  /**
   * A bot serving several clusters holds each cluster's keys apart
   * (`<path>/clusters/<name>/…`), so one cluster's MCP server or executor
   * holds no key that another cluster's components accept.
   */
  clusters?: Record<string, DeputyKeys>;
};

export const KEY_BYTES = 32;

/** The KV entry name of each purpose, under DEPUTY_KEYS_FROM_OPENBAO. */
export const KEY_ENTRIES: Readonly<Record<KeyPurpose, string>> = {
  action: "action",
  mcpCaller: "mcp-caller",
  executorCaller: "executor-caller",
};

/** Where one cluster's keys are kept for a bot serving several: `<path>/clusters/<name>`. */
export function clusterKeyPath(path: string, cluster: string): string {
  return `${path}/clusters/${cluster}`;
}

/** The keys of one served cluster: its own set when the bot serves several, else the bot's. */
export function keysOfCluster(keys: DeputyKeys, cluster: string, several: boolean): DeputyKeys {
  if (!several) return keys;
  const own = keys.clusters?.[cluster];
  if (!own) throw new DeputyError("CONFIG_INVALID", `no keys are loaded for cluster ${cluster}`);
  return own;
}

/** Fresh random keys for the given purposes (local mode, tests). */
export function generateKeys(purposes: readonly KeyPurpose[]): DeputyKeys {
  const keys: DeputyKeys = {};
  for (const purpose of purposes) keys[purpose] = randomBytes(KEY_BYTES);
  return keys;
}

/** A key as stored in KV: base64 of exactly 32 bytes, or a clear error naming the entry. */
export function decodeKey(value: unknown, where: string): Buffer {
  if (typeof value !== "string" || !/^[A-Za-z0-9+/]+={0,2}$/.test(value.trim())) {
    throw new DeputyError("CONFIG_INVALID", `${where} field "key" must be base64 text`);
  }
  const bytes = Buffer.from(value.trim(), "base64");
  if (bytes.length !== KEY_BYTES) {
    throw new DeputyError(
      "CONFIG_INVALID",
      `${where} field "key" must hold ${KEY_BYTES} random bytes (it holds ${bytes.length}); create it with: openssl rand -base64 ${KEY_BYTES}`,
    );
  }
  return bytes;
}

/** The few OpenBao calls the loader makes (executor/openbao-client.ts satisfies it). */
export interface KeyVault {
  request<T>(
    method: "GET" | "POST",
    path: string,
    options: { token?: string; body?: unknown; schema: z.ZodType<T> },
  ): Promise<T>;
}

export interface OpenBaoKeySource {
  openbao: KeyVault;
  authMount: string;
  /** The component's own Kubernetes-auth role: its policy reads only its keys. */
  role: string;
  /** The pod's projected service-account token (audience "openbao"). */
  jwt: string;
  /** KV v2 data path prefix, e.g. secret/data/deputy/keys. */
  path: string;
}

const loginSchema = z.object({ auth: z.object({ client_token: z.string().min(1) }).loose() }).loose();
const kvSchema = z.object({ data: z.object({ data: z.record(z.string(), z.unknown()) }).loose() }).loose();

function statusOf(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | undefined)?.status;
  return typeof status === "number" ? status : undefined;
}

/**
 * Log in with Kubernetes auth (the component's role and projected token), do
 * the reads, and revoke the OpenBao token at once, whatever the reads did.
 */
export async function readWithOpenBaoLogin<T>(
  source: Omit<OpenBaoKeySource, "path">,
  reads: (token: string) => Promise<T>,
): Promise<T> {
  const jwt = source.jwt.trim();
  if (jwt.split(".").length !== 3) {
    throw new DeputyError("CONFIG_INVALID", "The service-account token for OpenBao login is not a JWT");
  }
  const login = await source.openbao.request("POST", `auth/${source.authMount}/login`, {
    body: { role: source.role, jwt },
    schema: loginSchema,
  });
  const token = login.auth.client_token;
  try {
    return await reads(token);
  } finally {
    // The token was needed for these reads only.
    await source.openbao
      .request("POST", "auth/token/revoke-self", { token, schema: z.unknown() })
      .catch(() => undefined);
  }
}

/**
 * Log in with Kubernetes auth, read each needed key, revoke the OpenBao token.
 * A missing or unreadable key is a start-up error that names the entry.
 */
export async function loadKeysFromOpenBao(
  source: OpenBaoKeySource,
  purposes: readonly KeyPurpose[],
  /** Several clusters served: each one's keys, under `<path>/clusters/<name>`, instead of the bot's own. */
  clusters?: readonly string[],
): Promise<DeputyKeys> {
  return readWithOpenBaoLogin(source, async (token) => {
    const read = async (path: string): Promise<DeputyKeys> => {
      const keys: DeputyKeys = {};
      for (const purpose of purposes) {
        const entry = `${path}/${KEY_ENTRIES[purpose]}`;
        let document: z.infer<typeof kvSchema>;
        try {
          document = await source.openbao.request("GET", entry, { token, schema: kvSchema });
        } catch (error) {
          const status = statusOf(error);
          if (status === 404 || status === 403) {
            throw new DeputyError(
              "CONFIG_INVALID",
              `Deputy's ${purpose} key is ${status === 404 ? "missing" : "not readable by OpenBao role " + source.role} at OpenBao ${entry}; store it with: bao kv put ${entry.replace("/data/", "/")} key="$(openssl rand -base64 ${KEY_BYTES})"`,
              { cause: error },
            );
          }
          throw error;
        }
        keys[purpose] = decodeKey(document.data.data.key, `OpenBao ${entry}`);
      }
      return keys;
    };
    if (!clusters) return await read(source.path);
    const perCluster: Record<string, DeputyKeys> = {};
    for (const cluster of clusters) perCluster[cluster] = await read(clusterKeyPath(source.path, cluster));
    return { clusters: perCluster };
  });
}

export type KeySource = { kind: "generate" } | ({ kind: "openbao" } & OpenBaoKeySource);

/**
 * The keys a component needs, from its source. `generate` is only for local
 * mode and tests; a production process with no source refuses to start
 * (requireKeys), it never runs with a key nobody else shares.
 */
export async function loadDeputyKeys(options: {
  purposes: readonly KeyPurpose[];
  /** Several clusters served: each one's own keys (see DeputyKeys.clusters). */
  clusters?: readonly string[] | undefined;
  source: KeySource | undefined;
  component: string;
  logger?: Logger;
}): Promise<DeputyKeys> {
  const { purposes, source, component } = options;
  if (purposes.length === 0) return {};
  if (!source) {
    throw new DeputyError(
      "CONFIG_INVALID",
      `${component} needs Deputy's ${[purposes.slice(0, -1).join(", "), purposes.at(-1)].filter(Boolean).join(" and ")} key${purposes.length > 1 ? "s" : ""} and has none: set DEPUTY_KEYS_FROM_OPENBAO (e.g. secret/data/deputy/keys) so they are read from OpenBao at start-up`,
    );
  }
  const { clusters } = options;
  if (source.kind === "generate") {
    if (!clusters) return generateKeys(purposes);
    return { clusters: Object.fromEntries(clusters.map((name) => [name, generateKeys(purposes)])) };
  }
  let keys: DeputyKeys;
  try {
    keys = await loadKeysFromOpenBao(source, purposes, clusters);
  } catch (error) {
    if (error instanceof DeputyError && error.code === "CONFIG_INVALID") throw error;
    throw new DeputyError(
      "CONFIG_INVALID",
      `${component} could not read its keys from OpenBao ${source.path}: ${describeError(error)}`,
      { cause: error },
    );
  }
  // Names only, never a value.
  options.logger?.info(
    { path: source.path, loaded: purposes, ...(clusters ? { clusters } : {}) },
    "keys loaded from OpenBao",
  );
  return keys;
}

/** The key for one purpose, or a clear error when the composition forgot to load it. */
export function requireKey(keys: DeputyKeys, purpose: KeyPurpose, component: string): Buffer {
  const key = keys[purpose];
  if (!key) throw new DeputyError("CONFIG_INVALID", `${component} has no ${purpose} key loaded`);
  return key;
}
