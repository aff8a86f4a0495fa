/**
 * Single-flight: concurrent calls with the same key share one execution.
 * Ten agents asking for the same pod list at once cost the API server one
 * request. Nothing is cached after the call settles.
 */
export interface SingleFlight {
  do<T>(key: string, task: () => Promise<T>): { promise: Promise<T>; shared: boolean };
  readonly size: number;
}

export function createSingleFlight(): SingleFlight {
  const inFlight = new Map<string, Promise<unknown>>();
  return {
    do<T>(key: string, task: () => Promise<T>) {
      const existing = inFlight.get(key);
      if (existing) return { promise: existing as Promise<T>, shared: true };
      const promise = task().finally(() => inFlight.delete(key));
      inFlight.set(key, promise);
      return { promise, shared: false };
    },
    get size() {
      return inFlight.size;
    },
  };
}
