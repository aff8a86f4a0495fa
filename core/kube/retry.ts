import { jitteredBackoff } from "../backoff.ts";

export { sleep } from "../backoff.ts";

/**
 * Retry policy for Kubernetes reads: the shared backoff with full jitter
 * (core/backoff.ts), so many clients that failed together do not retry
 * together. Retry-After from the API
 * server's priority-and-fairness 429s is honoured, within the cap.
 */
export interface RetryPolicy {
  /** Total attempts, including the first. */
  maxAttempts: number;
  baseMs: number;
  capMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 4, baseMs: 100, capMs: 2000 };

const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);
const RETRYABLE_NETWORK = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ECONNABORTED",
]);

export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUS.has(status);
}

export function isRetryableNetworkError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && RETRYABLE_NETWORK.has(code);
}

/** Delay before retry number `attempt` (1 = first retry). */
export function backoffDelay(
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
  retryAfterSeconds?: number,
): number {
  const jittered = jitteredBackoff(attempt, policy, random);
  if (retryAfterSeconds !== undefined && Number.isFinite(retryAfterSeconds) && retryAfterSeconds > 0) {
    return Math.min(policy.capMs, Math.max(jittered, retryAfterSeconds * 1000));
  }
  return jittered;
}

export function parseRetryAfter(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const seconds = Number(value);
  return Number.isFinite(seconds) ? seconds : undefined;
}
