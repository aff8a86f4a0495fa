import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { z } from "zod";
import { conversationSchema, type ConversationRef } from "../core/identity/identity.ts";
import { keyOf } from "./conversation-store.ts";

/**
 * One agent turn at a time per thread, held as a lease any replica can see
 * in Redis. The replica answering renews it while the turn runs; if that
 * replica dies (killed, evicted, cut off) the lease lapses within its TTL, not
 * after the longest a turn may take, and another replica adopts the turn:
 * the question is kept with the lease, so it is answered again rather than
 * lost (Slack got its 200 and will not deliver it again).
 *
 * A holder that lost its lease (it was stalled past the TTL and the turn was
 * adopted) sees `renew()` answer false and must not post its answer: the
 * adopter does. A turn is adopted at most `maxAttempts - 1` times, so a
 * question that crashes every replica that takes it is not passed around
 * for ever: the last adopter says so in the thread instead.
 */
export interface TurnLease {
  /** Keep holding the thread; false once another replica holds it (or nobody does). */
  renew(): Promise<boolean>;
  /** Still the holder, as `renew` but without extending. */
  held(): Promise<boolean>;
  /** Replace what another replica would need to finish this turn (e.g. the status message's ts). */
  remember(turn: string): Promise<void>;
  /** Let the thread go, and forget the turn. */
  release(): Promise<void>;
}

export interface AdoptedTurn {
  conversation: ConversationRef;
  /** What `lock` or `remember` kept: the caller's own encoding of the turn. */
  turn: string;
  /** 1 for the first adoption, 2 for the second… */
  adoption: number;
  /** True when this adoption is the last allowed: tell the thread, do not run it again. */
  exhausted: boolean;
  lease: TurnLease;
}

export interface TurnLeases {
  /** Hold the thread for one turn, keeping `turn` for adoption; undefined while another turn holds it. */
  lock(ref: ConversationRef, turn: string): Promise<TurnLease | undefined>;
  /** Turns whose holder stopped renewing: each one taken, with a fresh lease, by exactly one caller. */
  adoptOrphans(): Promise<AdoptedTurn[]>;
  readonly ttlMs: number;
}

export interface TurnLeaseOptions {
  prefix: string;
  /** How long a lease lasts unless renewed; the holder renews every third of it. Default 30 s. */
  ttlMs?: number;
  /** Runs of one turn in all (the first and its adoptions); default 3. */
  maxAttempts?: number;
}

const entrySchema = z.object({
  conversation: conversationSchema,
  turn: z.string(),
  attempt: z.number().int().min(1),
});
type Entry = z.infer<typeof entrySchema>;

/** The lease's key is the thread lock's, so a turn held before leases still excludes others. */
const lockKeyOf = (prefix: string, ref: ConversationRef): string => `${keyOf(prefix, ref)}:lock`;

// KEYS: lock, turns hash. ARGV: token, ttl ms, entry (may be "").
const LOCK = `if redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2], "NX") then
  if ARGV[3] ~= "" then redis.call("HSET", KEYS[2], KEYS[1], ARGV[3]) end
  return 1
end
return 0`;
// KEYS: lock. ARGV: token, ttl ms (0: only check).
const RENEW = `if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) > 0 then redis.call("PEXPIRE", KEYS[1], ARGV[2]) end
return 1`;
// KEYS: lock, turns hash. ARGV: token, entry.
const REMEMBER = `if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
redis.call("HSET", KEYS[2], KEYS[1], ARGV[2])
return 1`;
// KEYS: lock, turns hash. ARGV: token.
const RELEASE = `if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
redis.call("DEL", KEYS[1])
redis.call("HDEL", KEYS[2], KEYS[1])
return 1`;
// KEYS: lock, turns hash. ARGV: token, ttl ms, the entry as read, the entry adopted.
// Adopted only if nobody holds the thread and the entry is still the one read: one adopter.
const ADOPT = `if redis.call("EXISTS", KEYS[1]) == 1 then return 0 end
if redis.call("HGET", KEYS[2], KEYS[1]) ~= ARGV[3] then return 0 end
redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
redis.call("HSET", KEYS[2], KEYS[1], ARGV[4])
return 1`;

// KEYS: turns hash. ARGV: field, the entry as read.
const DROP = `if redis.call("HGET", KEYS[1], ARGV[1]) == ARGV[2] then return redis.call("HDEL", KEYS[1], ARGV[1]) end
return 0`;

export function createTurnLeases(redis: Redis, options: TurnLeaseOptions): TurnLeases {
  const ttlMs = options.ttlMs ?? 30_000;
  const maxAttempts = options.maxAttempts ?? 3;
  const turnsKey = `${options.prefix}turns:held`;

  const leaseOf = (lockKey: string, token: string, entry: Omit<Entry, "turn">): TurnLease => ({
    async renew() {
      return (await redis.eval(RENEW, 1, lockKey, token, ttlMs)) === 1;
    },
    async held() {
      return (await redis.eval(RENEW, 1, lockKey, token, 0)) === 1;
    },
    async remember(turn) {
      await redis.eval(REMEMBER, 2, lockKey, turnsKey, token, JSON.stringify({ ...entry, turn }));
    },
    async release() {
      await redis.eval(RELEASE, 2, lockKey, turnsKey, token);
    },
  });

  return {
    ttlMs,
    async lock(ref, turn) {
      const lockKey = lockKeyOf(options.prefix, ref);
      const token = randomBytes(12).toString("hex");
      const entry = { conversation: ref, attempt: 1 };
      const got = await redis.eval(
        LOCK,
        2,
        lockKey,
        turnsKey,
        token,
        ttlMs,
        JSON.stringify({ ...entry, turn }),
      );
      return got === 1 ? leaseOf(lockKey, token, entry) : undefined;
    },
    async adoptOrphans() {
      const held = await redis.hgetall(turnsKey);
      const adopted: AdoptedTurn[] = [];
      for (const [lockKey, raw] of Object.entries(held)) {
        let entry: Entry;
        try {
          entry = entrySchema.parse(JSON.parse(raw));
        } catch {
          // Unreadable: nobody can finish it; drop it rather than trip over it every sweep.
          await redis.eval(DROP, 1, turnsKey, lockKey, raw);
          continue;
        }
        const token = randomBytes(12).toString("hex");
        const next = { conversation: entry.conversation, attempt: entry.attempt + 1 };
        const took = await redis.eval(
          ADOPT,
          2,
          lockKey,
          turnsKey,
          token,
          ttlMs,
          raw,
          JSON.stringify({ ...next, turn: entry.turn }),
        );
        if (took !== 1) continue;
        adopted.push({
          conversation: entry.conversation,
          turn: entry.turn,
          adoption: entry.attempt,
          exhausted: next.attempt >= maxAttempts,
          lease: leaseOf(lockKey, token, next),
        });
      }
      return adopted;
    },
  };
}
