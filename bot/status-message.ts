import type { webApi } from "@slack/bolt";
import { describeError } from "../core/errors.ts";
import type { Logger } from "../core/observability/logger.ts";
import { statusBlocks, statusText, type StatusStep } from "./blocks/status.ts";

/**
 * The progress message in a thread: posted once, then edited as tools run.
 * Edits are coalesced (one in flight, the latest queued) and spaced by
 * `minIntervalMs` to stay inside Slack's chat.update rate limit.
 */
export interface StatusMessage {
  readonly ts: string | undefined;
  step(step: StatusStep): void;
  /** Show a passing condition under the steps ("retrying…"); undefined clears it. */
  note(text: string | undefined): void;
  /** Wait for queued edits; later the answer replaces the message. */
  flush(): Promise<void>;
}

export async function postStatusMessage(options: {
  client: webApi.WebClient;
  channel: string;
  threadTs: string;
  headline: string;
  minIntervalMs: number;
  logger: Logger;
}): Promise<StatusMessage> {
  const { client, channel, headline, logger } = options;
  const steps: StatusStep[] = [];
  let note: string | undefined;
  const posted = await client.chat.postMessage({
    channel,
    thread_ts: options.threadTs,
    text: statusText(headline, steps),
    blocks: statusBlocks(headline, steps),
    unfurl_links: false,
    unfurl_media: false,
  });
  const ts = posted.ts;
  let inFlight: Promise<void> | undefined;
  let dirty = false;
  let lastEdit = 0;

  const edit = async (): Promise<void> => {
    while (dirty) {
      dirty = false;
      const wait = lastEdit + options.minIntervalMs - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      lastEdit = Date.now();
      try {
        await client.chat.update({
          channel,
          ts: ts!,
          text: statusText(headline, steps, note),
          blocks: statusBlocks(headline, steps, note),
        });
      } catch (error) {
        logger.warn({ err: describeError(error) }, "status update failed");
      }
    }
  };

  const kick = (): void => {
    if (inFlight || !ts) return;
    inFlight = edit().finally(() => {
      inFlight = undefined;
      if (dirty) kick();
    });
  };

  return {
    ts,
    step(step) {
      const existing = steps.findIndex(
        (s) => s.tool === step.tool && s.target === step.target && s.state === "running",
      );
      if (existing >= 0) steps[existing] = step;
      else steps.push(step);
      dirty = true;
      kick();
    },
    note(text) {
      if (text === note) return;
      note = text;
      dirty = true;
      kick();
    },
    async flush() {
      while (inFlight) await inFlight;
    },
  };
}
