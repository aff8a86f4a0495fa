import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";

/**
 * Counts over a sliding window in Redis, correct across replicas: each key is
 * a sorted set of the times something was let through. All the keys are
 * checked and charged in one Lua script, so a refusal costs nothing and two
 * replicas cannot both take the last slot. Unlike counts per calendar minute,
 * no boundary lets twice the limit through in a few seconds.
 */
export interface WindowLimit {
  key: string;
  limit: number;
}

export type WindowVerdict =
  | { allowed: true }
  /** `index` is the first limit reached, `count` what its window holds, `retryMs` until a slot frees. */
  | { allowed: false; index: number; count: number; retryMs: number };

// KEYS: the windows. ARGV: now, window ms, member, then one limit per key.
const SCRIPT = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, 0, now - window)
  local count = redis.call('ZCARD', key)
  if count >= tonumber(ARGV[3 + i]) then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local retry = 0
    if oldest[2] then retry = tonumber(oldest[2]) + window - now end
    return {i, count, retry}
  end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, window)
end
return {0, 0, 0}
`;

/** Take one slot in every window, or none when any is full. */
export async function takeSlot(
  redis: Redis,
  limits: readonly WindowLimit[],
  options: { windowMs: number; now: number },
): Promise<WindowVerdict> {
  const [index, count, retryMs] = (await redis.eval(
    SCRIPT,
    limits.length,
    ...limits.map((limit) => limit.key),
    String(options.now),
    String(options.windowMs),
    `${options.now}:${randomBytes(6).toString("hex")}`,
    ...limits.map((limit) => String(limit.limit)),
  )) as [number, number, number];
  if (index === 0) return { allowed: true };
  return { allowed: false, index: index - 1, count, retryMs: Math.max(0, retryMs) };
}
