import { DeputyError } from "../errors.ts";

/**
 * A counting semaphore: at most `max` Kubernetes calls in flight per cluster,
 * the rest wait in order. This is what keeps a burst of agent questions from
 * becoming a burst against the API server.
 */
export interface Limiter {
  run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** Take a slot and keep it until `release` is called (for streams). */
  acquire(signal?: AbortSignal): Promise<() => void>;
  readonly active: number;
  readonly waiting: number;
}

export function createLimiter(max: number): Limiter {
  if (!Number.isInteger(max) || max < 1) {
    throw new DeputyError(
      "CONFIG_INVALID",
      `the Kubernetes concurrency limit must be a positive integer, got ${max}`,
    );
  }
  let active = 0;
  const queue: { grant: () => void; signal?: AbortSignal; onAbort?: () => void }[] = [];

  const release = (): void => {
    const next = queue.shift();
    if (next) {
      if (next.onAbort) next.signal?.removeEventListener("abort", next.onAbort);
      next.grant();
    } else {
      active -= 1;
    }
  };

  const acquire = (signal?: AbortSignal): Promise<() => void> => {
    signal?.throwIfAborted();
    const once = (): (() => void) => {
      let released = false;
      return () => {
        if (released) return;
        released = true;
        release();
      };
    };
    if (active < max) {
      active += 1;
      return Promise.resolve(once());
    }
    return new Promise((resolve, reject) => {
      const entry: { grant: () => void; signal?: AbortSignal; onAbort?: () => void } = {
        grant: () => resolve(once()),
        signal,
      };
      if (signal) {
        entry.onAbort = () => {
          const index = queue.indexOf(entry);
          if (index >= 0) queue.splice(index, 1);
          reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
        };
        signal.addEventListener("abort", entry.onAbort, { once: true });
      }
      queue.push(entry);
    });
  };

  return {
    acquire,
    async run(task, signal) {
      const done = await acquire(signal);
      try {
        return await task();
      } finally {
        done();
      }
    },
    get active() {
      return active;
    },
    get waiting() {
      return queue.length;
    },
  };
}
