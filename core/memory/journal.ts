import type { ChainableCommander, Redis } from "ioredis";
import { z } from "zod";
import { identitySchema } from "../identity/identity.ts";
import { redactText } from "../untrusted/redact.ts";
import { causeSchema } from "./fix-record.ts";

/**
 * A thread's own record of what happened in it, in order: the alert that
 * started it, each question and who asked, each investigation step (tool and
 * target), each diagnosis as structured facts, each proposal, each verified
 * outcome, the first answer and the resolution. Written by the bot as these
 * happen; decisions and executions are read from the stored actions (the
 * executor's authenticated records) when the timeline is told. The diagnoses
 * kept here are what a fix record names as its cause. Free text is limited to
 * a question's own words, redacted and bounded, never shown to the model.
 */
const time = z.iso.datetime({ offset: true });
const actionId = z.string().regex(/^act_[A-Za-z0-9_-]{20,128}$/);
const name = z
  .string()
  .max(253)
  .regex(/^[A-Za-z0-9._:/@-]*$/);

export const journalEntrySchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("alert"), at: time, name: name, firedAt: time.optional() }),
  z.strictObject({ kind: z.literal("resolved"), at: time }),
  z.strictObject({
    kind: z.literal("question"),
    at: time,
    by: identitySchema,
    /** The question as asked, redacted and bounded. */
    text: z.string().max(300),
  }),
  z.strictObject({ kind: z.literal("answer"), at: time, steps: z.number().int().min(0) }),
  z.strictObject({ kind: z.literal("step"), at: time, tool: name, target: name.optional() }),
  z.strictObject({
    kind: z.literal("diagnosis"),
    at: time,
    /** The served cluster the diagnosis was made in. */
    cluster: name,
    namespace: name,
    workload: z.strictObject({ kind: name, name: name }),
    pod: name.optional(),
    causes: z.array(causeSchema).max(8),
  }),
  z.strictObject({ kind: z.literal("proposal"), at: time, action: actionId, tool: name, cluster: name }),
  z.strictObject({
    kind: z.literal("verified"),
    at: time,
    action: actionId,
    status: z.enum(["verified", "not_verified", "unknown"]),
    seconds: z.number().int().min(0),
  }),
]);
export type JournalEntry = z.infer<typeof journalEntrySchema>;
/** An entry as written: the time is added on the way in. */
export type JournalInput = JournalEntry extends infer E
  ? E extends JournalEntry
    ? Omit<E, "at"> & { at?: string }
    : never
  : never;

export interface ThreadRef {
  channel: string;
  thread: string;
}

export interface ThreadJournal {
  add(thread: ThreadRef, entry: JournalInput): Promise<void>;
  /** The same, as commands queued on a pipeline the caller sends (no round trip of its own). */
  queue(pipeline: ChainableCommander, thread: ThreadRef, entry: JournalInput): void;
  /** The thread's entries in the order they were written. */
  read(thread: ThreadRef): Promise<JournalEntry[]>;
}

/** Most entries kept per thread (the oldest go first). */
const MAX_ENTRIES = 1000;

export function createThreadJournal(
  redis: Redis,
  options: { prefix: string; retentionSeconds: number; now?: () => number },
): ThreadJournal {
  const now = options.now ?? Date.now;
  const key = (thread: ThreadRef): string =>
    `${options.prefix}journal:${thread.channel.replace(/[^A-Za-z0-9]/g, "_")}:${thread.thread.replace(/[^0-9.]/g, "_")}`;
  const queue = (pipeline: ChainableCommander, thread: ThreadRef, input: JournalInput): void => {
    // Parsed before anything is queued: an entry that is not Deputy's own shape is refused whole.
    const entry = journalEntrySchema.parse({
      ...input,
      ...(input.kind === "question" ? { text: redactText(input.text).slice(0, 300) } : {}),
      at: input.at ?? new Date(now()).toISOString(),
    });
    pipeline
      .rpush(key(thread), JSON.stringify(entry))
      .ltrim(key(thread), -MAX_ENTRIES, -1)
      .expire(key(thread), options.retentionSeconds);
  };
  return {
    queue,
    async add(thread, input) {
      const multi = redis.multi();
      queue(multi, thread, input);
      await multi.exec();
    },
    async read(thread) {
      const raw = await redis.lrange(key(thread), 0, -1);
      return raw.flatMap((line) => {
        try {
          const parsed = journalEntrySchema.safeParse(JSON.parse(line));
          return parsed.success ? [parsed.data] : [];
        } catch {
          return [];
        }
      });
    },
  };
}
