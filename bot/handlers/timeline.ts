import type { webApi } from "@slack/bolt";
import type { ActionStore } from "../../core/actions/store.ts";
import type { PendingAction } from "../../core/actions/schema.ts";
import { describeError } from "../../core/errors.ts";
import type { ConversationRef, Identity } from "../../core/identity/identity.ts";
import { buildTimeline, duration, timelineMarkdown } from "../../core/memory/timeline.ts";
import type { MemoryServices } from "../memory/incident-memory.ts";
import { redactSecrets, sanitizePlain } from "../sanitize.ts";

/** What the timeline reads besides the thread's record: the stored actions it proposed. */
export interface TimelineServices extends MemoryServices {
  actions: Pick<ActionStore, "get">;
}

export interface TimelineRequest {
  requester: Identity;
  /** Where it was asked (a mention in the thread, a slash command, a click). */
  conversation: ConversationRef;
  /** The thread whose timeline is told. */
  thread: { channel: string; ts: string };
}

const person = (identity: Identity): string =>
  identity.kind === "slack" ? `@${identity.name ?? identity.id}` : (identity.name ?? identity.id);

/**
 * `/deputy timeline` (and the Timeline button of a resolved alert): the
 * thread's incident timeline, from its own record and the stored actions it
 * proposed, as a short message and a Markdown file (files.uploadV2) for the
 * postmortem, secrets redacted. Only the thread's own records: nothing of
 * another thread or channel is read.
 */
export async function postTimeline(
  services: TimelineServices,
  client: webApi.WebClient,
  request: TimelineRequest,
): Promise<void> {
  const { conversation, thread } = request;
  const reply = (text: string): Promise<unknown> =>
    client.chat.postMessage({
      channel: conversation.channel,
      thread_ts: conversation.thread,
      text,
      unfurl_links: false,
      unfurl_media: false,
    });
  if (!services.memory) {
    await reply(
      "Deputy keeps no thread records here (DEPUTY_MEMORY_RETENTION_DAYS=0), so it has no timeline to tell.",
    );
    return;
  }
  // The access rules were checked for this conversation's channel: the thread must be in it.
  if (thread.channel !== conversation.channel) {
    await reply(
      "I tell the timeline of a thread only in its own channel: run `/deputy timeline` there (or mention me in the thread).",
    );
    return;
  }
  try {
    const entries = await services.memory.journal.read({ channel: thread.channel, thread: thread.ts });
    if (entries.length === 0) {
      await reply(
        "I have no record of this thread: Deputy took no part in it, or it is older than what Deputy remembers.",
      );
      return;
    }
    const ids = [...new Set(entries.flatMap((entry) => (entry.kind === "proposal" ? [entry.action] : [])))];
    const actions = (
      await Promise.all(ids.map((id) => services.actions.get(id).catch(() => undefined)))
    ).filter((action): action is PendingAction => action !== undefined);
    const timeline = buildTimeline(entries, actions);
    const clusters = [...new Set(actions.map((action) => action.cluster))];
    const markdown = redactSecrets(
      timelineMarkdown(timeline, {
        title: `Incident timeline: thread ${thread.channel}/${thread.ts}`,
        person,
        ...(clusters.length === 1 ? { cluster: clusters[0]! } : {}),
      }),
    );
    const started = timeline.startedAt ? timeline.startedAt.slice(11, 19) : undefined;
    const summary = [
      `:clipboard: *Timeline* of this thread${started ? ` (started ${started} UTC)` : ""}:`,
      `first answer after ${duration(timeline.toFirstAnswerMs)},`,
      `first approved fix after ${duration(timeline.toFirstApprovedFixMs)},`,
      `verified recovery after ${duration(timeline.toVerifiedRecoveryMs)}.`,
      `${timeline.rows.length} events; the full timeline is in the file.`,
    ].join(" ");
    await client.filesUploadV2({
      channel_id: thread.channel,
      thread_ts: thread.ts,
      filename: `timeline-${thread.channel}-${thread.ts}.md`,
      title: "Incident timeline",
      content: markdown,
      initial_comment: summary,
    });
  } catch (error) {
    services.logger.warn({ err: describeError(error) }, "timeline failed");
    await reply(sanitizePlain(`I could not tell the timeline: ${describeError(error)}`)).catch(
      () => undefined,
    );
  }
}
