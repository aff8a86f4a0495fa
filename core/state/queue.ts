import type { Redis } from "ioredis";
import type { Logger } from "../observability/logger.ts";

/**
 * A small bounded work queue in Redis: headless processes (deputy mcp, deputy
 * executor) push what must reach Slack; one bot replica pops each item and
 * delivers it. If no bot drains the queue, the newest `limit` items are kept.
 */
export async function pushToQueue(redis: Redis, key: string, item: unknown, limit = 1000): Promise<void> {
  await redis.multi().rpush(key, JSON.stringify(item)).ltrim(key, -limit, -1).exec();
}

export interface QueueDrain {
  close(): Promise<void>;
}

/** Pop items (blocking, on its own connection) and hand each to `deliver` until closed. */
export function drainQueue(options: {
  redis: Redis;
  key: string;
  deliver: (item: unknown) => Promise<void>;
  logger: Logger;
  what: string;
}): QueueDrain {
  // Its own connection (BLPOP blocks it). The client it was made from already reports an
  // outage, once; this one only retries (and the loop below logs what it fails to deliver).
  const connection = options.redis.duplicate();
  connection.on("error", () => undefined);
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        const popped = await connection.blpop(options.key, 1);
        if (!popped) continue;
        await options.deliver(JSON.parse(popped[1]));
      } catch (error) {
        if (stopped) return;
        options.logger.warn(
          { err: error instanceof Error ? error.message : String(error) },
          `${options.what} delivery failed`,
        );
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  })();
  return {
    async close() {
      stopped = true;
      connection.disconnect();
      await loop;
    },
  };
}
