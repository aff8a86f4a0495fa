import type { App } from "@slack/bolt";
import { describeError } from "../../../core/errors.ts";
import type { BotServices } from "../../deps.ts";
import { parseDirectCommand } from "../../direct-commands.ts";
import { answerQuestion } from "../../handlers/question.ts";
import { isPendingCommand, showPending } from "../../handlers/show-pending.ts";
import { sanitizePlain } from "../../sanitize.ts";
import { clusterNamedIn, unknownClusterHelp } from "../../../core/config/cluster-choice.ts";
import { slackTextToPlain } from "../../slack-text.ts";

export const COMMAND = "/deputy";

/**
 * `/deputy …`: help and usage errors are answered in the ack itself
 * (ephemeral, instant). Anything that does work gets a message in the channel
 * whose thread holds the progress, the result and any approval card.
 */
export function register(app: App, services: BotServices): void {
  app.command(COMMAND, async ({ command, ack, client, respond, context }) => {
    const text = slackTextToPlain(command.text, context.botUserId);
    // A cluster named in the command (`--cluster prod-eu`) is not part of what the parser checks.
    const choice = clusterNamedIn(text, services.clusters.names);
    if (choice.kind === "unknown") {
      await ack({
        response_type: "ephemeral",
        text: `:warning: ${sanitizePlain(unknownClusterHelp(services.clusters.names, choice.name))}`,
      });
      return;
    }
    if (/^resume[- ]writes$/i.test(choice.text.trim())) {
      await ack();
      services.tasks.run("resume_writes", async () => {
        const requester = { kind: "slack" as const, id: command.user_id, teamId: command.team_id };
        const result = await services.writePause.resume(
          requester,
          choice.kind === "named" ? [choice.cluster] : undefined,
        );
        if (result.resumed) {
          await client.chat.postMessage({ channel: command.channel_id, text: result.text });
        } else {
          await respond({ response_type: "ephemeral", text: result.text });
        }
      });
      return;
    }
    let parsed: ReturnType<typeof parseDirectCommand>;
    try {
      parsed = parseDirectCommand(choice.text);
    } catch (error) {
      await ack({ response_type: "ephemeral", text: `:warning: ${sanitizePlain(describeError(error))}` });
      return;
    }
    if (parsed.kind === "help") {
      await ack({ response_type: "ephemeral", text: parsed.text });
      return;
    }
    if (isPendingCommand(choice.text)) {
      await ack();
      const user = { kind: "slack" as const, id: command.user_id, teamId: command.team_id };
      const where = {
        surface: "slack" as const,
        teamId: command.team_id,
        channel: command.channel_id,
        thread: command.trigger_id,
      };
      const cluster = choice.kind === "named" ? choice.cluster : undefined;
      services.tasks.run("pending", () => showPending(services, client, user, where, respond, cluster));
      return;
    }
    await ack();
    const teamId = command.team_id;
    services.tasks.run("slash_command", async () => {
      // Refused before anything is posted in a channel Deputy does not serve.
      const refusal = await services.access.refusal(
        { kind: "slack", id: command.user_id, teamId },
        { surface: "slack", teamId, channel: command.channel_id, thread: command.trigger_id },
      );
      if (refusal) {
        await respond({ response_type: "ephemeral", text: `:no_entry: ${sanitizePlain(refusal)}` });
        return;
      }
      let root: string | undefined;
      try {
        const posted = await client.chat.postMessage({
          channel: command.channel_id,
          text: `<@${command.user_id}> ran \`${COMMAND} ${sanitizePlain(text).replace(/`/g, "'").slice(0, 300)}\``,
          unfurl_links: false,
          unfurl_media: false,
        });
        root = posted.ts;
      } catch (error) {
        const reason = describeError(error);
        await respond({
          response_type: "ephemeral",
          text: /not_in_channel|channel_not_found/.test(reason)
            ? "I can't post in this channel. Invite me with `/invite @Deputy`, or use a direct message."
            : `:warning: ${sanitizePlain(`I could not start: ${reason}`)}`,
        });
        return;
      }
      if (!root) return;
      await answerQuestion(services, client, {
        requester: { kind: "slack", id: command.user_id, teamId },
        conversation: { surface: "slack", teamId, channel: command.channel_id, thread: root },
        text,
        strictCommands: true,
      });
    });
  });
}
