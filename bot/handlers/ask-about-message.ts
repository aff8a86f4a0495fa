import { randomBytes } from "node:crypto";
import type { webApi } from "@slack/bolt";
import { describeError } from "../../core/errors.ts";
import { fenceUntrusted } from "../../core/untrusted/fence.ts";
import { redactText } from "../../core/untrusted/redact.ts";
import type { ConversationRef, Identity } from "../../core/identity/identity.ts";
import type { BotServices } from "../deps.ts";
import { sanitizePlain } from "../sanitize.ts";
import { slackTextToPlain } from "../slack-text.ts";
import { answerQuestion } from "./question.ts";
import { bindThread } from "./thread-cluster.ts";

/** Longest part of a message handed to the model as the subject. */
export const MAX_SUBJECT_CHARS = 8_000;

export interface MessageSubject {
  channel: string;
  ts: string;
  threadTs: string | undefined;
  /** Who wrote it (a user or an integration such as Alertmanager). */
  author: string | undefined;
  text: string;
}

/**
 * The prompt for a message someone handed to Deputy: the message itself is
 * data, whoever wrote it (an alert's text, a colleague's paste of a log), so
 * it reaches the model fenced as untrusted; only the person who ran the
 * shortcut is the requester.
 */
export function subjectPrompt(subject: MessageSubject, botUserId?: string): string {
  const text = slackTextToPlain(subject.text, botUserId).slice(0, MAX_SUBJECT_CHARS);
  return [
    "Someone handed you the Slack message below and asked you to look into it. Find out what it is about in the cluster (read-only), say what you found, and propose a change only if the evidence calls for one.",
    fenceUntrusted(
      `slack message ${subject.channel}/${subject.ts}${subject.author ? ` by ${subject.author}` : ""}`,
      text,
    ),
  ].join("\n");
}

/** Someone's request to look into a message. */
export interface AskAboutMessage {
  requester: Identity;
  subject: MessageSubject;
  botUserId: string | undefined;
}

/** The thread Deputy answers in: under the message, or in the thread it is part of. */
export function conversationOfSubject(input: AskAboutMessage): ConversationRef {
  return {
    surface: "slack",
    ...(input.requester.teamId ? { teamId: input.requester.teamId } : {}),
    channel: input.subject.channel,
    thread: input.subject.threadTs ?? input.subject.ts,
  };
}

/**
 * Whether the person has to say which cluster first: several are served, the
 * thread is bound to none of them, and the channel has no default. The
 * message's own text never decides it (it is data, not the asker's words).
 */
export async function needsClusterChoice(services: BotServices, input: AskAboutMessage): Promise<boolean> {
  const { clusters } = services;
  if (clusters.all.length === 1) return false;
  const conversation = conversationOfSubject(input);
  const bound = await services.conversations.boundCluster(conversation);
  if (bound !== undefined && clusters.get(bound)) return false;
  return clusters.defaultFor(conversation.channel) === undefined;
}

/** How long a request waits for its cluster to be chosen. */
export const HELD_REQUEST_SECONDS = 900;
const HELD_ID = /^[0-9a-f]{24}$/;

const heldKey = (services: BotServices, id: string): string => `${services.redisPrefix}ask-held:${id}`;

/** Keep a request while its asker picks the cluster; the id goes into the modal. */
export async function holdRequest(services: BotServices, input: AskAboutMessage): Promise<string> {
  const id = randomBytes(12).toString("hex");
  // The message may carry a secret: it is redacted before it is kept, as it would be for the model.
  const kept: AskAboutMessage = {
    ...input,
    subject: { ...input.subject, text: redactText(input.subject.text) },
  };
  await services.redis.set(heldKey(services, id), JSON.stringify(kept), "EX", HELD_REQUEST_SECONDS);
  return id;
}

/** Forget a held request that will not be asked about (refused, or the form could not open). */
export async function dropHeldRequest(services: BotServices, id: string): Promise<void> {
  await services.redis.del(heldKey(services, id));
}

/**
 * The held request, taken once and by its asker only: another person's
 * submission leaves it in place; a second submission finds nothing.
 */
export async function takeHeldRequest(
  services: BotServices,
  id: string,
  user: string,
): Promise<AskAboutMessage | "gone" | "not-yours"> {
  if (!HELD_ID.test(id)) return "gone";
  const raw = await services.redis.get(heldKey(services, id));
  if (raw === null) return "gone";
  const held = JSON.parse(raw) as AskAboutMessage;
  if (held.requester.id !== user) return "not-yours";
  // Whoever deletes it owns it: two submissions at once start one thread.
  if ((await services.redis.del(heldKey(services, id))) === 0) return "gone";
  return held;
}

/** "Ask Deputy about this": a thread under the message, investigated for the person who asked. */
export async function askAboutMessage(
  services: BotServices,
  client: webApi.WebClient,
  input: AskAboutMessage & {
    /** The cluster the asker picked; the thread is bound to it once the request is allowed. */
    cluster?: string;
  },
  explain: (text: string) => Promise<unknown>,
): Promise<void> {
  const { subject, requester } = input;
  const conversation = conversationOfSubject(input);
  // The same rules as a mention there; refused, nothing is posted in the channel.
  const refusal = await services.access.refusal(requester, conversation);
  if (refusal) {
    await explain(`:no_entry: ${sanitizePlain(refusal)}`);
    return;
  }
  // The person named it: like naming a cluster in the thread, even if it was bound meanwhile.
  if (input.cluster !== undefined) {
    const bound = await services.conversations.boundCluster(conversation);
    await bindThread(services, conversation, input.cluster, bound);
  }
  try {
    await client.chat.postMessage({
      channel: conversation.channel,
      thread_ts: conversation.thread,
      text: `<@${requester.id}> asked me to look into this message. I'll answer here.`,
      unfurl_links: false,
      unfurl_media: false,
    });
  } catch (error) {
    const reason = describeError(error);
    await explain(
      /not_in_channel|channel_not_found/.test(reason)
        ? "I can't post in this channel. Invite me with `/invite @Deputy` and try again."
        : sanitizePlain(`I could not start a thread there: ${reason}`),
    );
    return;
  }
  if (!services.agent) {
    await client.chat.postMessage({
      channel: conversation.channel,
      thread_ts: conversation.thread,
      text: "The AI agent is not configured here (no Anthropic API key), so I cannot investigate a message. Direct commands still work: try `/deputy help`.",
    });
    return;
  }
  await answerQuestion(services, client, {
    requester,
    conversation,
    text: subjectPrompt(subject, input.botUserId),
    fromDeputy: true,
  });
}
