import type { Redis } from "ioredis";
import { identityKey } from "../../core/identity/identity.ts";
import { takeSlot } from "../../core/state/sliding-window.ts";
import { allow, refusal, type PolicyRule } from "./types.ts";

/**
 * Write proposals per requester and per cluster per minute, counted in Redis
 * with a sliding window (core/state/sliding-window.ts): both windows are checked
 * and charged at once, so a refused proposal costs nothing.
 */
export const RATE_LIMIT_RULE = "rate-limit";

const WINDOW_MS = 60_000;

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
      const verdict = await takeSlot(
        options.redis,
        [
          // Per cluster, like every other count: a busy cluster does not use up another's budget.
          { key: `${options.prefix}ratelimit:user:${input.cluster}:${who}`, limit: options.perUserPerMinute },
          { key: `${options.prefix}ratelimit:cluster:${input.cluster}`, limit: options.perClusterPerMinute },
        ],
        { windowMs: WINDOW_MS, now: now() },
      );
      if (verdict.allowed) return allow;
      const { count, retryMs } = verdict;
      const scope = verdict.index === 0 ? "user" : "cluster";
      const seconds = Math.max(1, Math.ceil(retryMs / 1000));
      const sentence =
        scope === "user"
          ? `${count} write proposals from you in the last minute reach the limit of ${options.perUserPerMinute}; try again in ${seconds} s.`
          : `${count} write proposals on cluster ${input.cluster} in the last minute reach the limit of ${options.perClusterPerMinute}; try again in ${seconds} s.`;
      return { effect: "deny", message: refusal(`${RATE_LIMIT_RULE}-${scope}`, sentence) };
    },
  };
}
