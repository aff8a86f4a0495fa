/**
 * The one jittered exponential backoff. Retry number `attempt` (1 = first
 * retry) waits a random time under min(cap, base·2^(attempt-1)), so clients
 * that failed together do not come back together:
 * - full jitter (Kubernetes reads, OpenBao, executor writes): anywhere in
 *   [0, step), whole milliseconds;
 * - equal jitter (the model API): at least half the step, so retries spread
 *   over the window instead of bunching at its start.
 */
export interface Backoff {
  baseMs: number;
  capMs: number;
  jitter?: "full" | "equal";
}

export function jitteredBackoff(
  attempt: number,
  backoff: Backoff,
  random: () => number = Math.random,
): number {
  const step = Math.min(backoff.capMs, backoff.baseMs * 2 ** (attempt - 1));
  if (backoff.jitter === "equal") return step / 2 + (random() * step) / 2;
  return Math.floor(random() * step);
}

/** Wait `ms`; an abort rejects with the signal's reason. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export interface RetryOptions {
  attempts: number;
  baseMs: number;
  capMs: number;
  /** Decides whether an error is worth another attempt. */
  retryable: (error: unknown) => boolean;
  signal?: AbortSignal;
  random?: () => number;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/** Attempts, base and cap for OpenBao calls and executor writes. */
export const DEFAULT_RETRY = { attempts: 4, baseMs: 100, capMs: 2000 } as const;

/** Run `operation` until it succeeds, its error is not retryable, or attempts run out (full jitter). */
export async function withRetry<T>(
  operation: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const random = options.random ?? Math.random;
  for (let attempt = 0; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      const last = attempt + 1 >= options.attempts;
      if (last || !options.retryable(error) || options.signal?.aborted) throw error;
      const delayMs = jitteredBackoff(attempt + 1, options, random);
      options.onRetry?.(error, attempt + 1, delayMs);
      await sleep(delayMs);
    }
  }
}
