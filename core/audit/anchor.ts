import type { Redis } from "ioredis";
import type { AuditObserver } from "./log.ts";
import { describeError } from "../errors.ts";
import type { Logger } from "../observability/logger.ts";

/**
 * Anchors make deleting the END of an audit chain detectable: a hash chain
 * alone cannot tell a truncated file from a short one. Each writer keeps its
 * chain's head (seq and hash) in Redis, away from the log files; the verifier
 * then requires every anchored chain in a file to reach its head.
 */

export interface AuditAnchor {
  seq: number;
  hash: string;
  time: string;
}

function anchorsKey(prefix: string): string {
  return `${prefix}audit:heads`;
}

/** An AuditLog observer that records each chain's head in Redis (fire and forget; failures logged). */
export function auditAnchorObserver(redis: Redis, prefix: string, logger?: Logger): AuditObserver {
  return (record) => {
    if (record.chain === undefined) return;
    const anchor: AuditAnchor = { seq: record.seq, hash: record.hash, time: record.time };
    // Only move forward: a late write for an older record must not move the head back.
    redis
      .eval(
        `local cur = redis.call('HGET', KEYS[1], ARGV[1])
         if cur then
           local ok, parsed = pcall(cjson.decode, cur)
           if ok and parsed.seq and parsed.seq >= tonumber(ARGV[3]) then return 0 end
         end
         redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
         return 1`,
        1,
        anchorsKey(prefix),
        record.chain,
        JSON.stringify(anchor),
        String(record.seq),
      )
      .catch((error: unknown) => {
        logger?.warn({ err: describeError(error), chain: record.chain }, "audit anchor update failed");
      });
  };
}

export async function readAuditAnchors(redis: Redis, prefix: string): Promise<Record<string, AuditAnchor>> {
  const raw = await redis.hgetall(anchorsKey(prefix));
  const anchors: Record<string, AuditAnchor> = {};
  for (const [chain, value] of Object.entries(raw)) {
    try {
      const parsed = JSON.parse(value) as AuditAnchor;
      if (typeof parsed.seq === "number" && typeof parsed.hash === "string") anchors[chain] = parsed;
    } catch {
      // an unreadable anchor cannot vouch for anything; skip it
    }
  }
  return anchors;
}
