import type { Redis } from "ioredis";
import { describeError } from "../errors.ts";
import type { Logger } from "../observability/logger.ts";

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
