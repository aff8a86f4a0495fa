import type { Identity } from "../core/identity/identity.ts";
import { redactValue } from "../core/untrusted/redact.ts";
import type { ApprovalCardView } from "./card.ts";

/**
 * What the console streams to browsers. Every event belongs to a thread and
 * carries a global sequence number, so a browser that reconnects (SSE
 * Last-Event-ID) gets exactly what it missed. All text here may come from the
 * cluster or the model: the UI renders it as text, never as HTML.
 */
export type ConsoleEventBody =
  | { type: "thread"; title: string; startedBy: Identity | undefined; kind: "conversation" | "triage" }
  | { type: "message"; role: "user" | "deputy" | "system"; author: Identity | undefined; text: string }
  | {
      type: "tool_call";
      callId: string;
      tool: string;
      arguments: Record<string, unknown>;
      status: "running" | "ok" | "error";
      /** The tool's text output (bounded by the MCP server's budget). */
      output?: string;
      durationMs?: number;
    }
  | { type: "progress"; text: string }
  | { type: "card"; card: ApprovalCardView }
  | {
      type: "result";
      actionId: string;
      status: "succeeded" | "failed" | "rejected" | "expired";
      text: string;
    }
  | { type: "triage"; title: string; text: string; object?: string }
  | { type: "busy"; busy: boolean };

export type ConsoleEvent = ConsoleEventBody & { seq: number; time: string; threadId: string };

export type EventListener = (event: ConsoleEvent) => void;

export interface EventHub {
  publish(threadId: string, body: ConsoleEventBody): ConsoleEvent;
  /** Replays events after `afterSeq`, then delivers new ones until unsubscribed. */
  subscribe(afterSeq: number, listener: EventListener): () => void;
  history(threadId?: string): ConsoleEvent[];
  readonly lastSeq: number;
}

export interface EventHubOptions {
  /** Oldest events are dropped beyond this; a late browser reloads the page. */
  historyLimit?: number;
  now?: () => Date;
}

/**
 * Every event leaves through the shared redactor (a tool call's target can be a
 * model-written kubectl line, a result quotes the executor), except an approval
 * card: what an approver sees is shown whole, and a change that would need
 * redacting is refused when it is proposed.
 */
function redactEvent(body: ConsoleEventBody): ConsoleEventBody {
  return body.type === "card" ? body : redactValue(body);
}

export function createEventHub(options: EventHubOptions = {}): EventHub {
  const limit = options.historyLimit ?? 5000;
  const now = options.now ?? ((): Date => new Date());
  const events: ConsoleEvent[] = [];
  const listeners = new Set<EventListener>();
  let seq = 0;

  return {
    publish(threadId, body) {
      const event: ConsoleEvent = { ...redactEvent(body), seq: ++seq, time: now().toISOString(), threadId };
      events.push(event);
      if (events.length > limit) events.splice(0, events.length - limit);
      for (const listener of listeners) {
        try {
          listener(event);
        } catch {
          // A broken browser connection must not stop delivery to the others.
          listeners.delete(listener);
        }
      }
      return event;
    },
    subscribe(afterSeq, listener) {
      for (const event of events) if (event.seq > afterSeq) listener(event);
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    history(threadId) {
      return threadId === undefined ? [...events] : events.filter((event) => event.threadId === threadId);
    },
    get lastSeq() {
      return seq;
    },
  };
}
