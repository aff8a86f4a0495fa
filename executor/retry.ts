/**
 * Capped exponential backoff with full jitter: every waiter picks a random
 * delay in [0, min(cap, base·2^attempt)], so a burst of failures does not come
 * back as a synchronised herd against OpenBao or the API server.
 */
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

export const DEFAULT_RETRY = { attempts: 4, baseMs: 100, capMs: 2000 } as const;

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
      const delayMs = Math.floor(random() * Math.min(options.capMs, options.baseMs * 2 ** attempt));
      options.onRetry?.(error, attempt + 1, delayMs);
      await new Promise<void>((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
