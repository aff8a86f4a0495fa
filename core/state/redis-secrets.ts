import { z } from "zod";
import { DeputyError, describeError } from "../errors.ts";
import { readWithOpenBaoLogin, type OpenBaoKeySource } from "../identity/keys.ts";
import type { RedisConfig } from "./redis-config.ts";

const kvSchema = z.object({ data: z.object({ data: z.record(z.string(), z.unknown()) }).loose() }).loose();
const FIELDS = ["password", "username", "sentinel_password", "sentinel_username"] as const;

/**
 * Redis credentials kept in OpenBao KV v2, like Deputy's other secrets: one
 * entry (DEPUTY_REDIS_SECRETS_FROM_OPENBAO, e.g. secret/data/deputy/redis)
 * with `password` and `username` for the data nodes and `sentinel_password`
 * and `sentinel_username` for the sentinels, each optional. A component reads
 * it once at start-up with its own role and revokes its OpenBao token at once.
 */
export async function loadRedisSecretsFromOpenBao(
  source: OpenBaoKeySource,
): Promise<Partial<Record<(typeof FIELDS)[number], string>>> {
  return readWithOpenBaoLogin(source, async (token) => {
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
  });
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
