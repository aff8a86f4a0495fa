import type { Redis } from "ioredis";
import type { Config } from "../core/config/config.ts";
import { DeputyError } from "../core/errors.ts";
import type { Logger } from "../core/observability/logger.ts";

/**
 * Redis for a one-shot command (`deputy audit verify --anchors`, `deputy
 * policy explain`), reached as the executor reaches it: a URL or Sentinel,
 * with the credentials from OpenBao when DEPUTY_REDIS_SECRETS_FROM_OPENBAO is
 * set (read with the executor's role). Connected, or a sentence saying what
 * could not be reached; the caller disconnects it.
 */
export async function connectRedisForCommand(config: Config, what: string, logger: Logger): Promise<Redis> {
  const { withRedisSecrets } = await import("../executor/wiring.ts");
  const { createRedisClient } = await import("../core/state/redis.ts");
  const redisConfig = (await withRedisSecrets(config, config.openbao.authRole, logger)).redis;
  const redis = createRedisClient(redisConfig, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
  });
  // A one-shot command: a failure is reported once, here or by the failing command.
  redis.on("error", () => undefined);
  try {
    await redis.connect();
    // Connected is not yet allowed: a refused user or password shows on the first command.
    await redis.ping();
    return redis;
  } catch (error) {
    redis.disconnect();
    throw new DeputyError("UPSTREAM_FAILED", `cannot reach Redis for ${what}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
