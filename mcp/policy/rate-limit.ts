import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { identityKey } from "../../core/identity.ts";
import { allow, refusal, type PolicyRule } from "./types.ts";

/**
 * Write proposals per requester and per cluster per minute, counted in Redis
 * with a sliding window (correct across replicas). Both windows are checked
 * and charged in one Lua script, so a refused proposal costs nothing and two
 * replicas cannot both take the last slot.
 */
export const RATE_LIMIT_RULE = "rate-limit";

const WINDOW_MS = 60_000;

// KEYS: user window, cluster window. ARGV: now, window, user limit, cluster limit, member.
const SCRIPT = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[2], 0, now - window)
local user = redis.call('ZCARD', KEYS[1])
local cluster = redis.call('ZCARD', KEYS[2])
if user >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {'user', user, tonumber(oldest[2]) + window - now}
end
if cluster >= tonumber(ARGV[4]) then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {'cluster', cluster, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('ZADD', KEYS[2], now, ARGV[5])
redis.call('PEXPIRE', KEYS[1], window)
redis.call('PEXPIRE', KEYS[2], window)
return {'ok', user + 1, 0}
`;

export interface RateLimitOptions {
  redis: Redis;
  prefix: string;
  perUserPerMinute: number;
  perClusterPerMinute: number;
  now?: () => number;
}

export function rateLimit(options: RateLimitOptions): PolicyRule {
  const now = options.now ?? Date.now;
  return {
    id: RATE_LIMIT_RULE,
    async evaluate(input) {
      const who = input.requester ? identityKey(input.requester) : "anonymous";
      const [scope, count, retryMs] = (await options.redis.eval(
        SCRIPT,
        2,
        // Per cluster, like every other count: a busy cluster does not use up another's budget.
        `${options.prefix}ratelimit:user:${input.cluster}:${who}`,
        `${options.prefix}ratelimit:cluster:${input.cluster}`,
        String(now()),
        String(WINDOW_MS),
        String(options.perUserPerMinute),
        String(options.perClusterPerMinute),
        `${now()}:${randomBytes(6).toString("hex")}`,
      )) as [string, number, number];
      if (scope === "ok") return allow;
      const seconds = Math.max(1, Math.ceil(retryMs / 1000));
      const sentence =
        scope === "user"
          ? `${count} write proposals from you in the last minute reach the limit of ${options.perUserPerMinute}; try again in ${seconds} s.`
          : `${count} write proposals on cluster ${input.cluster} in the last minute reach the limit of ${options.perClusterPerMinute}; try again in ${seconds} s.`;
      return { effect: "deny", message: refusal(`${RATE_LIMIT_RULE}-${scope}`, sentence) };
    },
  };
}
