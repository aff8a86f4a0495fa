import type { webApi } from "@slack/bolt";
import { z } from "zod";
import { describeError } from "../../core/errors.ts";
import { conversationSchema, identitySchema } from "../../core/identity/identity.ts";
import type { BotServices } from "../deps.ts";
import type { AdoptedTurn } from "../turn-lease.ts";
import { runAgentTurn } from "./question.ts";

/**
 * A replica that stopped mid-turn (killed, evicted, cut off) leaves its
 * question unanswered, and Slack will not deliver it again: it got its 200.
 * Every replica looks for such turns (their lease lapsed) and one adopts each:
 * the stale "Looking into it…" message says so, and the question is answered
 * anew. A turn that has already stopped replicas too often is not run again;
 * the thread is told.
 */
export async function adoptOrphanedTurns(services: BotServices, client: webApi.WebClient): Promise<number> {
  const adopted = await services.turns.adoptOrphans();
  for (const turn of adopted) services.tasks.run("adopted_turn", () => finishAdopted(services, client, turn));
  return adopted.length;
}

const turnSchema = z.object({
  question: z.object({
    requester: identitySchema,
    conversation: conversationSchema,
    text: z.string(),
    fromDeputy: z.boolean().optional(),
    aboutCluster: z.string().optional(),
  }),
  cluster: z.string(),
  statusTs: z.string().optional(),
});

async function finishAdopted(
  services: BotServices,
  client: webApi.WebClient,
  adopted: AdoptedTurn,
): Promise<void> {
  const { conversation, lease } = adopted;
  const log = services.logger.child({ conversation, adoption: adopted.adoption });
  let stored: unknown;
  try {
    stored = JSON.parse(adopted.turn);
  } catch {
    stored = undefined;
  }
  const parsed = turnSchema.safeParse(stored);
  const cluster = parsed.success ? services.clusters.get(parsed.data.cluster) : undefined;
  const say = async (text: string): Promise<void> => {
    const statusTs = parsed.success ? parsed.data.statusTs : undefined;
    await (
      statusTs
        ? client.chat.update({
            channel: conversation.channel,
            ts: statusTs,
            text,
            blocks: [{ type: "section", text: { type: "mrkdwn", text } }],
          })
        : client.chat.postMessage({ channel: conversation.channel, thread_ts: conversation.thread, text })
    ).catch((error: unknown) => log.warn({ err: describeError(error) }, "could not tell the thread"));
  };
  if (!parsed.success || !cluster || !services.agent) {
    log.error(
      "a stopped replica's turn cannot be finished here (unreadable, or a cluster or agent not served)",
    );
    await say(
      "The bot replica answering this stopped before it finished, and I cannot pick it up. Ask again.",
    );
    await lease.release().catch(() => undefined);
    return;
  }
  if (adopted.exhausted) {
    log.error("a turn stopped the replicas answering it too often; not run again");
    await say(
      `I could not answer this: the bot replicas working on it stopped ${adopted.adoption} times before finishing. Ask again, or ask the operators to look at the bot's logs.`,
    );
    await lease.release().catch(() => undefined);
    return;
  }
  log.warn("adopting the turn of a bot replica that stopped before finishing it");
  await say("The bot replica answering this stopped before it finished; another one is answering below.");
  await runAgentTurn(services, client, { ...parsed.data.question, cluster }, services.agent, log, lease);
}
