import type { Redis } from "ioredis";
import { z } from "zod";
import type { ConversationRef } from "../core/identity/identity.ts";
import { pendingActionRefSchema, type PendingActionRef } from "../core/actions/schema.ts";

/**
 * Where each approval card is, until it is decided or expires, so a card
 * nobody clicked stops offering buttons when its action expires (the executor
 * refuses a late click anyway). A sorted set by expiry lets any replica sweep;
 * removing the member is the claim, so one replica updates each card.
 */
export interface TrackedCard {
  /** Which stored action the card shows; the card is re-rendered from the store. */
  action: PendingActionRef;
  channel: string;
  ts: string;
  conversation: ConversationRef;
}

export interface CardTracker {
  remember(card: TrackedCard): Promise<void>;
  forget(actionId: string): Promise<void>;
  /** Where an action's card is, while it is tracked. */
  locate(actionId: string): Promise<TrackedCard | undefined>;
  /** Cards whose action expired before `now`, each claimed by exactly one caller. */
  claimExpired(now?: number): Promise<TrackedCard[]>;
}

const trackedSchema = z.object({
  action: pendingActionRefSchema,
  channel: z.string(),
  ts: z.string(),
  conversation: z.object({
    surface: z.enum(["slack", "console", "cli"]),
    teamId: z.string().optional(),
    channel: z.string(),
    thread: z.string(),
  }),
});

export function createCardTracker(redis: Redis, options: { prefix: string }): CardTracker {
  const index = `${options.prefix}cards:expiry`;
  const key = (id: string): string => `${options.prefix}card:${id}`;
  return {
    async remember(card) {
      const expires = Date.parse(card.action.expiresAt);
      if (Number.isNaN(expires)) return;
      const ttl = Math.max(60, Math.ceil((expires - Date.now()) / 1000) + 3600);
      await redis
        .multi()
        .set(key(card.action.id), JSON.stringify(card), "EX", ttl)
        .zadd(index, expires, card.action.id)
        .exec();
    },
    async forget(actionId) {
      await redis.multi().zrem(index, actionId).del(key(actionId)).exec();
    },
    async locate(actionId) {
      const raw = await redis.get(key(actionId));
      const parsed = raw ? trackedSchema.safeParse(JSON.parse(raw)) : undefined;
      return parsed?.success ? (parsed.data as TrackedCard) : undefined;
    },
    async claimExpired(now = Date.now()) {
      const due = await redis.zrangebyscore(index, 0, now, "LIMIT", 0, 100);
      const claimed: TrackedCard[] = [];
      for (const id of due) {
        if ((await redis.zrem(index, id)) !== 1) continue;
        const raw = await redis.get(key(id));
        await redis.del(key(id));
        const parsed = raw ? trackedSchema.safeParse(JSON.parse(raw)) : undefined;
        if (parsed?.success) claimed.push(parsed.data as TrackedCard);
      }
      return claimed;
    },
  };
}
