import { describeError } from "../core/errors.ts";
import type { Logger } from "../core/observability/logger.ts";

/**
 * Work that continues after Slack has been acknowledged. Tasks are tracked so
 * shutdown (and tests) can wait for them, and a task that throws is logged:
 * each task is responsible for telling the user itself.
 */
export interface BackgroundTasks {
  run(name: string, task: () => Promise<void>): void;
  /** Count an in-flight promise (e.g. Bolt's middleware chain) as running work. */
  track<T>(promise: Promise<T>): Promise<T>;
  /** Resolves when no task is running. */
  idle(): Promise<void>;
  readonly running: number;
}

export function createBackgroundTasks(logger: Logger): BackgroundTasks {
  const tasks = new Set<Promise<void>>();
  return {
    run(name, task) {
      // setImmediate: let pending I/O (more Slack requests to ack) run before the work starts.
      const promise = new Promise<void>((resolve) => setImmediate(resolve))
        .then(task)
        .catch((error: unknown) =>
          logger.error({ task: name, err: describeError(error) }, "background task failed"),
        )
        .finally(() => tasks.delete(promise));
      tasks.add(promise);
    },
    track(promise) {
      const settled = promise.then(
        () => undefined,
        () => undefined,
      );
      tasks.add(settled);
      void settled.finally(() => tasks.delete(settled));
      return promise;
    },
    async idle() {
      while (tasks.size > 0) await Promise.allSettled([...tasks]);
    },
    get running() {
      return tasks.size;
    },
  };
}
