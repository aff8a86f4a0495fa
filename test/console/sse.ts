import type { ConsoleEvent } from "../../console/events.ts";

/**
 * Read the console's event stream (GET /api/events) until `until` says stop
 * or `timeoutMs` passes (an error, unless `returnOnTimeout`). Named events (the "hello" with the server's epoch)
 * are skipped: only thread events are returned.
 */
export async function readConsoleEvents(
  base: string,
  until: (events: ConsoleEvent[]) => boolean,
  options: { headers?: Record<string, string>; timeoutMs?: number; returnOnTimeout?: boolean } = {},
): Promise<ConsoleEvent[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? 5000);
  const events: ConsoleEvent[] = [];
  try {
    const response = await fetch(new URL("/api/events", base), {
      headers: options.headers ?? {},
      signal: controller.signal,
    });
    if (!response.headers.get("content-type")?.startsWith("text/event-stream")) {
      throw new Error(`/api/events answered ${response.status} ${response.headers.get("content-type")}`);
    }
    const decoder = new TextDecoder();
    const reader = response.body!.getReader();
    let buffer = "";
    while (!until(events)) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const lines = buffer.slice(0, end).split("\n");
        buffer = buffer.slice(end + 2);
        if (lines.some((line) => line.startsWith("event: "))) continue;
        const data = lines
          .filter((line) => line.startsWith("data: "))
          .map((line) => line.slice(6))
          .join("\n");
        if (data) events.push(JSON.parse(data) as ConsoleEvent);
      }
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error;
    if (options.returnOnTimeout) return events;
    throw new Error(`timed out reading console events; got: ${JSON.stringify(events.map((e) => e.type))}`);
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return events;
}

/** True once the thread's turn has finished (its "busy: false" event). */
export function turnDone(threadId: string): (events: ConsoleEvent[]) => boolean {
  return (events) =>
    events.some((event) => event.threadId === threadId && event.type === "busy" && !event.busy);
}
