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

/**
 * Amounts over a sliding window (tokens used in the last hour): each entry is
 * a member `<time>:<amount>:<nonce>` scored by its time. `windowTotal` reads
 * the sum; `addToWindow` records an amount once it is known (after the work),
 * so a total may pass its limit by what one piece of work used.
 */
// KEYS[1]: the window. ARGV: now, window ms, limit. Returns {total, retryMs}: retryMs until the total drops below limit.
const TOTAL_SCRIPT = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, now - window)
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local total = 0
for i = 1, #entries, 2 do
  total = total + tonumber(string.match(entries[i], '^[^:]*:([0-9]+):'))
end
local retry = 0
if total >= limit then
  local left = total
  for i = 1, #entries, 2 do
    left = left - tonumber(string.match(entries[i], '^[^:]*:([0-9]+):'))
    if left < limit then
      retry = tonumber(entries[i + 1]) + window - now
      break
    end
  end
end
return {total, retry}
`;

export type TotalVerdict =
  { allowed: true; total: number } | { allowed: false; total: number; retryMs: number };

export async function windowTotal(
  redis: Redis,
  window: WindowLimit,
  options: { windowMs: number; now: number },
): Promise<TotalVerdict> {
  const [total, retryMs] = (await redis.eval(
    TOTAL_SCRIPT,
    1,
    window.key,
    String(options.now),
    String(options.windowMs),
    String(window.limit),
  )) as [number, number];
  return total < window.limit
    ? { allowed: true, total }
    : { allowed: false, total, retryMs: Math.max(0, retryMs) };
}

export async function addToWindow(
  redis: Redis,
  key: string,
  amount: number,
  options: { windowMs: number; now: number },
): Promise<void> {
  const whole = Math.max(0, Math.round(amount));
  if (whole === 0) return;
  await redis
    .multi()
    .zadd(key, options.now, `${options.now}:${whole}:${randomBytes(6).toString("hex")}`)
    .pexpire(key, options.windowMs)
    .exec();
}
