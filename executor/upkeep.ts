import { describeError } from "../core/errors.ts";
import type { Logger } from "../core/observability/logger.ts";
import type { ApprovalExecutor } from "./approval-executor.ts";

/**
 * The executor's background duties, in every process that hosts one (deputy
 * executor, the bot with an in-process executor, local mode): heartbeats for
 * the actions it runs, finding actions whose executor stopped, retrying the
 * revocation of leases OpenBao could not revoke (in reconcile, until it
 * succeeds), and expiring pending actions nobody decided.
 */
export interface ExecutorUpkeep {
  stop(): void;
}

export interface UpkeepIntervals {
  heartbeatMs: number;
  reconcileMs: number;
  expireMs: number;
}

export const DEFAULT_UPKEEP: UpkeepIntervals = { heartbeatMs: 5_000, reconcileMs: 10_000, expireMs: 30_000 };

export function startExecutorUpkeep(
  executor: ApprovalExecutor,
  logger: Logger,
  intervals: UpkeepIntervals = DEFAULT_UPKEEP,
): ExecutorUpkeep {
  const every = (ms: number, what: string, work: () => Promise<unknown>): NodeJS.Timeout => {
    const timer = setInterval(() => {
      work().catch((error: unknown) => logger.warn({ err: describeError(error) }, `${what} failed`));
    }, ms);
    timer.unref();
    return timer;
  };
  const timers = [
    every(intervals.heartbeatMs, "executor heartbeat", () => executor.heartbeat()),
    every(intervals.reconcileMs, "interrupted-action check", async () => {
      const reconciled = await executor.reconcile();
      if (reconciled.length > 0) {
        logger.warn(
          { actions: reconciled.map((a) => `${a.id}:${a.state}`) },
          "actions whose executor stopped",
        );
      }
    }),
    every(intervals.expireMs, "expiry sweep", () => executor.expireDue()),
  ];
  return {
    stop() {
      for (const timer of timers) clearInterval(timer);
    },
  };
}
