import type { Redis } from "ioredis";
import { identityKey, type Identity } from "../../core/identity/identity.ts";
import type { Metrics } from "../../core/observability/metrics.ts";
import { addToWindow, takeSlot, windowTotal } from "../../core/state/sliding-window.ts";

/**
 * What one person's conversations may cost: agent turns and model tokens per
 * hour (DEPUTY_AGENT_TURNS_PER_HOUR, DEPUTY_AGENT_TOKENS_PER_HOUR), counted in
 * Redis per cluster like the write-proposal limit (mcp/policy/rate-limit.ts),
 * over a sliding hour, correct across replicas. A turn is admitted before the
 * model is called; its tokens are charged when it ends, so the turn that
 * reaches the token limit finishes and the next one is refused. A refusal
 * says when the person can ask again.
 */
export interface ConversationLimits {
  turnsPerHour: number;
  tokensPerHour: number;
}

export type AgentAdmission =
  { allowed: true } | { allowed: false; limit: "turns" | "tokens"; message: string; retryMs: number };

export interface AgentUsageLimit {
  admit(requester: Identity, cluster: string): Promise<AgentAdmission>;
  /** The model tokens a finished turn used (input, output and cache). */
  charge(requester: Identity, cluster: string, tokens: number): Promise<void>;
}

const HOUR_MS = 3_600_000;

/** "in 12 min (at 14:32 UTC)": when a slot frees, for people. */
export function whenAgain(retryMs: number, now: number): string {
  const at = new Date(now + retryMs);
  const clock = `${String(at.getUTCHours()).padStart(2, "0")}:${String(at.getUTCMinutes()).padStart(2, "0")} UTC`;
  const seconds = Math.max(1, Math.ceil(retryMs / 1000));
  const wait = seconds < 120 ? `${seconds} s` : `${Math.ceil(seconds / 60)} min`;
  return `in ${wait} (at ${clock})`;
}

export function createAgentUsageLimit(options: {
  redis: Redis;
  prefix: string;
  limits: ConversationLimits;
  metrics?: Pick<Metrics, "agentAdmission"> | undefined;
  now?: () => number;
}): AgentUsageLimit {
  const now = options.now ?? Date.now;
  const key = (what: "turns" | "tokens", requester: Identity, cluster: string): string =>
    `${options.prefix}agent-limit:${what}:${cluster}:${identityKey(requester)}`;
  const { turnsPerHour, tokensPerHour } = options.limits;
  return {
    async admit(requester, cluster) {
      const at = now();
      // Tokens first (a read): a turn refused for tokens uses no turn.
      const tokens = await windowTotal(
        options.redis,
        { key: key("tokens", requester, cluster), limit: tokensPerHour },
        { windowMs: HOUR_MS, now: at },
      );
      if (!tokens.allowed) {
        options.metrics?.agentAdmission("tokens_limit");
        return {
          allowed: false,
          limit: "tokens",
          retryMs: tokens.retryMs,
          message: `Your questions in the last hour used ${tokens.total.toLocaleString("en-US")} model tokens on cluster ${cluster}, which reaches the limit of ${tokensPerHour.toLocaleString("en-US")} per hour; you can ask again ${whenAgain(tokens.retryMs, at)}. Direct commands (/deputy help) still work.`,
        };
      }
      const turn = await takeSlot(
        options.redis,
        [{ key: key("turns", requester, cluster), limit: turnsPerHour }],
        { windowMs: HOUR_MS, now: at },
      );
      if (!turn.allowed) {
        options.metrics?.agentAdmission("turns_limit");
        return {
          allowed: false,
          limit: "turns",
          retryMs: turn.retryMs,
          message: `You asked me ${turn.count} questions in the last hour on cluster ${cluster}, which reaches the limit of ${turnsPerHour} per hour; you can ask again ${whenAgain(turn.retryMs, at)}. Direct commands (/deputy help) still work.`,
        };
      }
      options.metrics?.agentAdmission("allowed");
      return { allowed: true };
    },
    async charge(requester, cluster, tokens) {
      await addToWindow(options.redis, key("tokens", requester, cluster), tokens, {
        windowMs: HOUR_MS,
        now: now(),
      });
    },
  };
}
