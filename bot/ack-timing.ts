import type { App, ReceiverEvent } from "@slack/bolt";
import type { Metrics } from "../core/observability/metrics.ts";

type AckKind = Parameters<Metrics["observeSlackAck"]>[1];

/** What Slack sent, for the ack-latency label: events, slash commands, actions, views, options, shortcuts. */
export function ackKindOf(body: Record<string, unknown>): AckKind {
  if (typeof body.command === "string") return "command";
  switch (body.type) {
    case "block_actions":
    case "interactive_message":
      return "action";
    case "view_submission":
    case "view_closed":
      return "view";
    case "block_suggestion":
      return "options";
    case "shortcut":
    case "message_action":
      return "shortcut";
    default:
      return "event";
  }
}

/**
 * Time from Bolt receiving a request (HTTP or Socket Mode: both receivers hand
 * it to App.processEvent) to its acknowledgement, into the Slack ack histogram.
 * Slack retries anything not acknowledged within 3 s.
 */
export function measureAcks(app: App, metrics: Pick<Metrics, "observeSlackAck">): void {
  const process = app.processEvent.bind(app);
  app.processEvent = (event: ReceiverEvent): Promise<void> => {
    const started = performance.now();
    const kind = ackKindOf(event.body);
    return process({
      ...event,
      ack: async (response?: unknown) => {
        try {
          return await event.ack(response);
        } finally {
          metrics.observeSlackAck((performance.now() - started) / 1000, kind);
        }
      },
    });
  };
}
