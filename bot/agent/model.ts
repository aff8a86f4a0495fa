import Anthropic from "@anthropic-ai/sdk";
import type { Message, MessageCreateParamsNonStreaming } from "@anthropic-ai/sdk/resources/messages/messages";
import { jitteredBackoff, sleep } from "../../core/backoff.ts";
import { DeputyError } from "../../core/errors.ts";

/**
 * The model behind the agent loop: one Messages API call with our own retry
 * policy on rate limits and overload (429, 529, 5xx), so the loop can show
 * "retrying" progress and give a plain report when the service stays down.
 * The SDK's own retries are off: two retry layers multiply waits.
 */
export interface AgentModel {
  create(params: MessageCreateParamsNonStreaming, options: ModelCallOptions): Promise<Message>;
}

export interface ModelCallOptions {
  signal: AbortSignal;
  onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void;
}

/**
 * Backoff over a bounded window: an overload usually passes within seconds to
 * tens of seconds, so a few tries in the first second would give up too soon,
 * and minutes of trying would keep the thread waiting for nothing.
 */
export interface RetryPolicy {
  /** Keep trying for this long after the first failure (MODEL_RETRY_SECONDS). */
  windowMs: number;
  baseMs: number;
  capMs: number;
}

export const DEFAULT_MODEL_RETRY: RetryPolicy = { windowMs: 30_000, baseMs: 1000, capMs: 8000 };

export interface AnthropicModelOptions {
  apiKey: string;
  /** ANTHROPIC_BASE_URL: a company gateway or, in tests, the local fake. */
  baseUrl?: string;
  retry?: RetryPolicy;
  timeoutMs?: number;
}

function retryReason(error: unknown): string | undefined {
  if (error instanceof Anthropic.APIError) {
    const type = (error.error as { error?: { type?: string } } | undefined)?.error?.type;
    if (error.status === 429) return "rate limited (HTTP 429)";
    if (error.status === 529 || type === "overloaded_error")
      return `overloaded (HTTP ${error.status ?? 529})`;
    if (error.status !== undefined && error.status >= 500)
      return `returning server errors (HTTP ${error.status})`;
    if (error instanceof Anthropic.APIConnectionError && !(error instanceof Anthropic.APIUserAbortError)) {
      return "unreachable";
    }
  }
  return undefined;
}

function retryAfterMs(error: unknown): number | undefined {
  if (!(error instanceof Anthropic.APIError)) return undefined;
  const header = error.headers?.get?.("retry-after");
  if (!header) return undefined;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

/** Wrap any `create` with capped exponential backoff, full jitter and Retry-After. */
export function withModelRetry(
  create: (params: MessageCreateParamsNonStreaming, signal: AbortSignal) => Promise<Message>,
  policy: RetryPolicy = DEFAULT_MODEL_RETRY,
): AgentModel {
  return {
    async create(params, { signal, onRetry }) {
      let firstFailure: number | undefined;
      for (let attempt = 1; ; attempt++) {
        try {
          return await create(params, signal);
        } catch (error) {
          const reason = retryReason(error);
          if (signal.aborted) throw error;
          if (reason === undefined) {
            if (error instanceof Anthropic.APIError) {
              throw new DeputyError(
                "UPSTREAM_FAILED",
                `The model API refused the request (HTTP ${error.status ?? "?"}).`,
                {
                  cause: error,
                  details: { status: error.status },
                },
              );
            }
            throw error;
          }
          const now = Date.now();
          firstFailure ??= now;
          const elapsed = now - firstFailure;
          const left = policy.windowMs - elapsed;
          if (left <= 0) {
            throw new DeputyError(
              "UPSTREAM_FAILED",
              `The model service is ${reason}; I tried for ${formatSeconds(elapsed)}. Please ask again in a few minutes.`,
              { cause: error, details: { attempts: attempt, elapsedMs: elapsed } },
            );
          }
          // Equal jitter: at least half the step, so retries spread over the window
          // instead of bunching at its start; the last wait ends at the window's end.
          const backoff = jitteredBackoff(attempt, { ...policy, jitter: "equal" });
          const delayMs = Math.min(left, Math.max(backoff, retryAfterMs(error) ?? 0));
          onRetry?.({ attempt, delayMs, reason });
          await sleep(delayMs, signal);
        }
      }
    },
  };
}

export function createAnthropicModel(options: AnthropicModelOptions): AgentModel {
  const client = new Anthropic({
    apiKey: options.apiKey,
    ...(options.baseUrl ? { baseURL: options.baseUrl } : {}),
    maxRetries: 0,
    timeout: options.timeoutMs ?? 120_000,
  });
  return withModelRetry((params, signal) => client.messages.create(params, { signal }), options.retry);
}

function formatSeconds(ms: number): string {
  const seconds = ms / 1000;
  return seconds >= 10 ? `${Math.round(seconds)} s` : `${seconds.toFixed(1)} s`;
}
