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
  claim(kind: DedupeKind, key: string): Promise<boolean>;
  /** Give a claim back when the work it guarded did not happen, so a retry is not dropped. */
  release(kind: DedupeKind, key: string): Promise<void>;
}

/** "outcome": an action's result told in its thread, by whichever path learns it first. */
export type DedupeKind = "event" | "interaction" | "command" | "outcome";

export interface DeduperOptions {
  prefix: string;
  /** Slack retries for up to about an hour; keep claims a little longer. */
  ttlSeconds?: number;
}

export function createDeduper(redis: Redis, options: DeduperOptions): Deduper {
  const ttl = options.ttlSeconds ?? 2 * 3600;
  const keyOf = (kind: DedupeKind, key: string): string =>
    `${options.prefix}dedupe:${kind}:${createHash("sha256").update(key).digest("base64url")}`;
  return {
    async claim(kind, key) {
      const reply = await redis.set(keyOf(kind, key), "1", "EX", ttl, "NX");
      return reply === "OK";
    },
    async release(kind, key) {
      await redis.del(keyOf(kind, key));
    },
  };
}
