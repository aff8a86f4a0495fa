import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

/**
 * Slack delivers at least once: an event is retried (X-Slack-Retry-Num) when
 * the ack was slow or lost, and a click can be replayed. Each delivery is
 * claimed once in Redis with SET NX and a TTL, so any replica sees the claim
 * and a duplicate is dropped before it starts a second turn or decision.
 */
export interface Deduper {
  /** True exactly once per (kind, key) within the TTL, across replicas. */
  claim(kind: "event" | "interaction" | "command", key: string): Promise<boolean>;
}

export interface DeduperOptions {
  prefix: string;
  /** Slack retries for up to about an hour; keep claims a little longer. */
  ttlSeconds?: number;
}

export function createDeduper(redis: Redis, options: DeduperOptions): Deduper {
  const ttl = options.ttlSeconds ?? 2 * 3600;
  return {
    async claim(kind, key) {
      const digest = createHash("sha256").update(key).digest("base64url");
      const reply = await redis.set(`${options.prefix}dedupe:${kind}:${digest}`, "1", "EX", ttl, "NX");
      return reply === "OK";
    },
  };
}
