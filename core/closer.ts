import { describeError } from "./errors.ts";
import type { Logger } from "./observability/logger.ts";

/**
 * What a running process started, undone newest first, even when one step
 * fails (the failure is logged and the rest still close). Every component's
 * wiring adds to the same closer, so a process has one shutdown order.
 */
export interface Closer {
  add(what: string, close: () => Promise<void> | void): void;
  closeAll(): Promise<void>;
}

/** `logger` is a function because a process may create its logger after its first closing step. */
export function createCloser(logger: () => Logger | undefined): Closer {
  const steps: { what: string; close: () => Promise<void> | void }[] = [];
  return {
    add: (what, close) => void steps.push({ what, close }),
    async closeAll() {
      for (const step of steps.splice(0).reverse()) {
        try {
          await step.close();
        } catch (error) {
          logger()?.warn({ err: describeError(error) }, `stopping ${step.what} failed`);
        }
      }
    },
  };
}
