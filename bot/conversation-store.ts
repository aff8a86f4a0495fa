import type { Redis } from "ioredis";
import { z } from "zod";
import type { ConversationRef } from "../core/identity/identity.ts";
import type { MessageParam } from "./agent/types.ts";

/**
 * Thread history in Redis, so any replica can answer a follow-up. One key per
 * conversation holds the messages (whole turns only, oldest dropped first to
 * stay under a size budget), a list holds notes for the agent's next turn
 * (approval results), and with several clusters served, one key says which cluster
 * the thread is bound to. Everything expires with the conversation's TTL.
 */
export interface ConversationRecord {
  messages: MessageParam[];
  /**
   * Text people typed in this thread: links in it may be posted back. Only
   * typed text: a prompt Deputy composed around untrusted text (a message
   * handed over with "Ask Deputy about this", an outcome quoting the cluster)
   * is never here, or its links would come back clickable.
   */
  userText: string[];
  /** Identity keys of the people who asked Deputy something in this thread. */
  participants: string[];
}

export interface TurnAuthor {
  /** What the person typed, if anything; undefined for a prompt Deputy composed. */
  typed: string | undefined;
  /** identityKey() of who asked. */
  participant: string;
}

export interface ConversationStore {
  load(ref: ConversationRef): Promise<ConversationRecord>;
  /** Append one finished turn and who asked it, trimming old turns. */
  appendTurn(ref: ConversationRef, messages: readonly MessageParam[], author: TurnAuthor): Promise<void>;
  /** Something the agent should know on its next turn in this thread. */
  addNote(ref: ConversationRef, note: string): Promise<void>;
  /** Read and clear the notes atomically. */
  takeNotes(ref: ConversationRef): Promise<string[]>;
  /** The cluster this thread is bound to (several clusters served), if any. */
  boundCluster(ref: ConversationRef): Promise<string | undefined>;
  /** Bind the thread to a cluster: its tools act there until someone names another. */
  bindCluster(ref: ConversationRef, cluster: string): Promise<void>;
}

export interface ConversationStoreOptions {
  prefix: string;
  ttlSeconds?: number;
  /** Budget for the stored messages, in JSON characters (~4 per token). */
  maxChars?: number;
  maxUserText?: number;
}

const recordSchema = z.object({
  messages: z.array(z.object({ role: z.enum(["user", "assistant"]), content: z.unknown() }).loose()),
  userText: z.array(z.string()),
  participants: z.array(z.string()).default([]),
});

/** The key of a conversation's record; its other keys (notes, cluster, the turn lease) add a suffix. */
export function keyOf(prefix: string, ref: ConversationRef): string {
  const part = (value: string | undefined): string => encodeURIComponent(value ?? "-");
  return `${prefix}conv:${ref.surface}:${part(ref.teamId)}:${part(ref.channel)}:${part(ref.thread)}`;
}

/** A turn starts at a user message that is a prompt, not a tool result. */
function isTurnStart(message: MessageParam): boolean {
  if (message.role !== "user") return false;
  if (typeof message.content === "string") return true;
  return !message.content.some((block) => block.type === "tool_result");
}

/** Drop whole turns from the front until the history fits; always keep the last turn. */
export function trimHistory(messages: readonly MessageParam[], maxChars: number): MessageParam[] {
  let kept = [...messages];
  while (JSON.stringify(kept).length > maxChars) {
    const nextStart = kept.findIndex((message, index) => index > 0 && isTurnStart(message));
    if (nextStart <= 0) break;
    kept = kept.slice(nextStart);
  }
  return kept;
}

export function createConversationStore(redis: Redis, options: ConversationStoreOptions): ConversationStore {
  const ttl = options.ttlSeconds ?? 7 * 24 * 3600;
  const maxChars = options.maxChars ?? 200_000;
  const maxUserText = options.maxUserText ?? 50;

  async function load(ref: ConversationRef): Promise<ConversationRecord> {
    const raw = await redis.get(keyOf(options.prefix, ref));
    if (!raw) return { messages: [], userText: [], participants: [] };
    const parsed = recordSchema.safeParse(JSON.parse(raw));
    // A record we cannot read is dropped rather than fed to the model half-broken.
    return parsed.success
      ? (parsed.data as ConversationRecord)
      : { messages: [], userText: [], participants: [] };
  }

  return {
    load,
    async appendTurn(ref, messages, author) {
      const current = await load(ref);
      const record: ConversationRecord = {
        messages: trimHistory([...current.messages, ...messages], maxChars),
        userText: (author.typed ? [...current.userText, author.typed] : current.userText).slice(-maxUserText),
        participants: [...new Set([...current.participants, author.participant])].slice(-50),
      };
      await redis.set(keyOf(options.prefix, ref), JSON.stringify(record), "EX", ttl);
    },
    async addNote(ref, note) {
      const key = `${keyOf(options.prefix, ref)}:notes`;
      await redis.multi().rpush(key, note).ltrim(key, -20, -1).expire(key, ttl).exec();
    },
    async takeNotes(ref) {
      const key = `${keyOf(options.prefix, ref)}:notes`;
      const replies = await redis.multi().lrange(key, 0, -1).del(key).exec();
      const notes = replies?.[0]?.[1];
      return Array.isArray(notes) ? notes.filter((note): note is string => typeof note === "string") : [];
    },
    async boundCluster(ref) {
      return (await redis.get(`${keyOf(options.prefix, ref)}:cluster`)) ?? undefined;
    },
    async bindCluster(ref, cluster) {
      await redis.set(`${keyOf(options.prefix, ref)}:cluster`, cluster, "EX", ttl);
    },
  };
}
