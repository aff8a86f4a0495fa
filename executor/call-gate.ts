/**
 * At most N OpenBao calls in flight from this executor, the rest queued —
 * revocations ahead of new credentials, so a burst of approvals shortens the
 * life of the credentials already out instead of piling up new ones. The
 * secrets engine talks to the API server at client-go's default 5 requests/s
 * (4 calls to mint, 3 to revoke), so an unbounded burst only turns into
 * timeouts and retries: the thundering herd the talk describes.
 */
export interface CallGate {
  run<T>(priority: "high" | "normal", call: () => Promise<T>): Promise<T>;
  readonly waiting: number;
}

export function createCallGate(limit: number): CallGate {
  let active = 0;
  const high: (() => void)[] = [];
  const normal: (() => void)[] = [];
  /** Hand the finished call's slot straight to the next waiter, or free it. */
  const release = (): void => {
    const wake = high.shift() ?? normal.shift();
    if (wake) wake();
    else active--;
  };
  return {
    get waiting() {
      return high.length + normal.length;
    },
    async run(priority, call) {
      if (active < limit) active++;
      else await new Promise<void>((resolve) => (priority === "high" ? high : normal).push(resolve));
      try {
        return await call();
      } finally {
        release();
      }
    },
  };
}
