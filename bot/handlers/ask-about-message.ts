import type { webApi } from "@slack/bolt";
import { describeError } from "../../core/errors.ts";
import { fenceUntrusted } from "../../core/fence.ts";
import type { ConversationRef, Identity } from "../../core/identity.ts";
import type { BotServices } from "../deps.ts";
import { sanitizePlain } from "../sanitize.ts";
import { slackTextToPlain } from "../slack-text.ts";
import { answerQuestion } from "./question.ts";

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

/** "Ask Deputy about this": a thread under the message, investigated for the person who asked. */
export async function askAboutMessage(
  services: BotServices,
  client: webApi.WebClient,
  input: { requester: Identity; subject: MessageSubject; botUserId: string | undefined },
  explain: (text: string) => Promise<unknown>,
): Promise<void> {
  const { subject, requester } = input;
  const conversation: ConversationRef = {
    surface: "slack",
    ...(requester.teamId ? { teamId: requester.teamId } : {}),
    channel: subject.channel,
    thread: subject.threadTs ?? subject.ts,
  };
  // The same rules as a mention there; refused, nothing is posted in the channel.
  const refusal = await services.access.refusal(requester, conversation);
  if (refusal) {
    await explain(`:no_entry: ${sanitizePlain(refusal)}`);
    return;
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
