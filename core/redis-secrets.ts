import { z } from "zod";
import { DeputyError, describeError } from "./errors.ts";
import type { KeyVault } from "./keys.ts";
import type { RedisConfig } from "./redis-config.ts";

/**
 * Redis credentials kept in OpenBao KV v2, like Deputy's other secrets: one
 * entry (DEPUTY_REDIS_SECRETS_FROM_OPENBAO, e.g. secret/data/deputy/redis)
 * with `password` and `username` for the data nodes and `sentinel_password`
 * and `sentinel_username` for the sentinels, each optional. A component reads
 * it once at start-up with its own role and revokes its OpenBao token at once.
 */
export interface RedisSecretSource {
  openbao: KeyVault;
  authMount: string;
  role: string;
  jwt: string;
  path: string;
}

const loginSchema = z.object({ auth: z.object({ client_token: z.string().min(1) }).loose() }).loose();
const kvSchema = z.object({ data: z.object({ data: z.record(z.string(), z.unknown()) }).loose() }).loose();
const FIELDS = ["password", "username", "sentinel_password", "sentinel_username"] as const;

export async function loadRedisSecretsFromOpenBao(
  source: RedisSecretSource,
): Promise<Partial<Record<(typeof FIELDS)[number], string>>> {
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
    let document: z.infer<typeof kvSchema>;
    try {
      document = await source.openbao.request("GET", source.path, { token, schema: kvSchema });
    } catch (error) {
      throw new DeputyError(
        "CONFIG_INVALID",
        `The Redis credentials at OpenBao ${source.path} (DEPUTY_REDIS_SECRETS_FROM_OPENBAO) cannot be read with role ${source.role}: ${describeError(error)}`,
        { cause: error },
      );
    }
    const found: Partial<Record<(typeof FIELDS)[number], string>> = {};
    for (const field of FIELDS) {
      const value = document.data.data[field];
      if (value === undefined || value === "") continue;
      if (typeof value !== "string") {
        throw new DeputyError("CONFIG_INVALID", `OpenBao ${source.path} key "${field}" is not a string`);
      }
      found[field] = value;
    }
    if (Object.keys(found).length === 0) {
      throw new DeputyError(
        "CONFIG_INVALID",
        `OpenBao ${source.path} (DEPUTY_REDIS_SECRETS_FROM_OPENBAO) holds none of ${FIELDS.join(", ")}`,
      );
    }
    return found;
  } finally {
    // The token was needed for this read only.
    await source.openbao
      .request("POST", "auth/token/revoke-self", { token, schema: z.unknown() })
      .catch(() => undefined);
  }
}

/** The Redis configuration with what OpenBao holds filled in; OpenBao wins where it has a value. */
export function applyRedisSecrets(
  config: RedisConfig,
  secrets: Partial<Record<(typeof FIELDS)[number], string>>,
): RedisConfig {
  return {
    ...config,
    auth: {
      username: secrets.username ?? config.auth.username,
      password: secrets.password ?? config.auth.password,
    },
    sentinelAuth: {
      username: secrets.sentinel_username ?? config.sentinelAuth.username,
      password: secrets.sentinel_password ?? config.sentinelAuth.password,
    },
  };
}
