import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import {
  confirmReplicated,
  durabilityOf,
  ReplicationUnconfirmed,
  type RedisDurability,
} from "../core/state/redis.ts";

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
  /**
   * Replicas that must confirm a click's claim before its decision is taken
   * (default: what the client was made with; none: no WAIT).
   */
  durability?: RedisDurability;
}

export function createDeduper(redis: Redis, options: DeduperOptions): Deduper {
  const ttl = options.ttlSeconds ?? 2 * 3600;
  const keyOf = (kind: DedupeKind, key: string): string =>
    `${options.prefix}dedupe:${kind}:${createHash("sha256").update(key).digest("base64url")}`;
  const durability = options.durability ?? durabilityOf(redis);
  return {
    async claim(kind, key) {
      const claimKey = keyOf(kind, key);
      const stream = redis.status === "ready" ? redis.stream : undefined;
      const claimed = (await redis.set(claimKey, "1", "EX", ttl, "NX")) === "OK";
      // A click's claim lost in a failover would let its replay decide again: it must be on a replica.
      if (!claimed || kind !== "interaction") return claimed;
      try {
        await confirmReplicated(redis, durability, "the claim of this click", stream ?? redis.stream);
      } catch (error) {
        // Unconfirmed: given back, so the person's next click is not taken for a replay.
        if (error instanceof ReplicationUnconfirmed) await redis.del(claimKey).catch(() => undefined);
        throw error;
      }
      return true;
    },
    async release(kind, key) {
      await redis.del(keyOf(kind, key));
    },
  };
}
