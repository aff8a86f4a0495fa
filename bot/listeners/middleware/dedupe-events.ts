import type { App } from "@slack/bolt";
import { describeError } from "../../../core/errors.ts";
import type { BotServices } from "../../deps.ts";

/**
 * Global middleware: an Events API delivery is processed once per event_id,
 * whether Slack retried it (X-Slack-Retry-Num) or another replica got it
 * first. Events are acknowledged by Bolt before this runs.
 */
export interface RetryCounter {
  retries: number;
  duplicates: number;
}

export function register(app: App, services: BotServices, counter: RetryCounter): void {
  app.use(async ({ body, context, next }) => {
    const eventId = (body as { event_id?: unknown }).event_id;
    if (typeof eventId !== "string") {
      await next();
      return;
    }
    if (context.retryNum !== undefined) {
      counter.retries++;
      services.logger.info(
        { eventId, retryNum: context.retryNum, retryReason: context.retryReason },
        "Slack retried an event",
      );
    }
    let first: boolean;
    try {
      first = await services.deduper.claim("event", eventId);
    } catch (error) {
      // Without Redis nothing else works either; process rather than drop the question.
      services.logger.error({ eventId, err: describeError(error) }, "event dedupe unavailable");
      first = true;
    }
    if (!first) {
      counter.duplicates++;
      services.logger.info({ eventId }, "duplicate event ignored");
      return;
    }
    await next();
  });
}
