import type { IncomingMessage, ServerResponse } from "node:http";
import type { HTTPReceiver } from "@slack/bolt";
import type { Logger } from "../core/observability/logger.ts";

/**
 * Slack's guidance: refuse a request whose X-Slack-Request-Timestamp is more
 * than five minutes from now, in either direction. Bolt's HTTP receiver
 * refuses old ones only, so a validly signed request dated in the future
 * (captured once, replayable for as long as its date lies ahead) would be
 * processed. This check runs before Bolt's own.
 */
export const MAX_REQUEST_SKEW_SECONDS = 5 * 60;

export function isFromTheFuture(header: string | string[] | undefined, nowMs = Date.now()): boolean {
  const value = Array.isArray(header) ? header[0] : header;
  const seconds = Number(value);
  return Number.isFinite(seconds) && seconds - Math.floor(nowMs / 1000) > MAX_REQUEST_SKEW_SECONDS;
}

export function refuseFutureRequests(receiver: HTTPReceiver, logger: Logger): void {
  const inner = receiver.requestListener;
  receiver.requestListener = (request: IncomingMessage, response: ServerResponse): void => {
    if (isFromTheFuture(request.headers["x-slack-request-timestamp"])) {
      logger.warn(
        { timestamp: request.headers["x-slack-request-timestamp"] },
        "Slack request dated more than five minutes ahead refused",
      );
      response.writeHead(401, { "content-type": "text/plain" });
      response.end("request timestamp is too far in the future");
      return;
    }
    inner(request, response);
  };
}
