import type { Redis } from "ioredis";
import { z } from "zod";
import type { Logger } from "../observability/logger.ts";
import { drainQueue, pushToQueue, type QueueDrain } from "../state/queue.ts";
import { ACTION_ID_PATTERN, type PendingAction } from "./schema.ts";

/**
 * What became of an action after its decision, when nobody is waiting for
 * the answer: an executor that stopped mid-run is found by another one, which
 * marks the action interrupted and queues a notice; the bot posts it in the
 * action's thread and updates its card.
 */
export const actionNoticeSchema = z.object({
  actionId: z.string().regex(ACTION_ID_PATTERN),
  text: z.string().max(4000),
});
export type ActionNotice = z.infer<typeof actionNoticeSchema>;

export function noticeQueueKey(prefix: string): string {
  return `${prefix}actions:notices`;
}

export function queueActionNotice(
  redis: Redis,
  prefix: string,
): (action: PendingAction, text: string) => Promise<void> {
  return (action, text) => pushToQueue(redis, noticeQueueKey(prefix), { actionId: action.id, text });
}

export function drainActionNotices(options: {
  redis: Redis;
  prefix: string;
  deliver: (notice: ActionNotice) => Promise<void>;
  logger: Logger;
}): QueueDrain {
  return drainQueue({
    redis: options.redis,
    key: noticeQueueKey(options.prefix),
    deliver: async (item) => {
      const notice = actionNoticeSchema.safeParse(item);
      if (notice.success) await options.deliver(notice.data);
      else options.logger.warn("malformed action notice dropped");
    },
    logger: options.logger,
    what: "action notice",
  });
}
