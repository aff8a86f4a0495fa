import type { App, MessageShortcut, ViewSubmitAction } from "@slack/bolt";
import { describeError } from "../../../core/errors.ts";
import {
  ASK_CLUSTER_BLOCK_ID,
  ASK_CLUSTER_CALLBACK_ID,
  ASK_CLUSTER_SELECT_ID,
  clusterChoiceModal,
} from "../../blocks/cluster-choice.ts";
import type { BotServices } from "../../deps.ts";
import {
  askAboutMessage,
  conversationOfSubject,
  dropHeldRequest,
  HELD_REQUEST_SECONDS,
  holdRequest,
  needsClusterChoice,
  takeHeldRequest,
  type AskAboutMessage,
} from "../../handlers/ask-about-message.ts";
import { sanitizePlain } from "../../sanitize.ts";

/** The message shortcut's callback id, as declared in the app manifest. */
export const ASK_ABOUT_MESSAGE_CALLBACK_ID = "deputy_ask_about_message";

export function register(app: App, services: BotServices): void {
  app.shortcut<MessageShortcut>(
    { type: "message_action", callback_id: ASK_ABOUT_MESSAGE_CALLBACK_ID },
    async ({ shortcut, ack, client, respond, context }) => {
      await ack();
      const teamId = shortcut.user.team_id ?? shortcut.team?.id;
      const message = shortcut.message as {
        ts: string;
        thread_ts?: string;
        text?: string;
        user?: string;
        bot_id?: string;
      };
      const input: AskAboutMessage = {
        requester: { kind: "slack", id: shortcut.user.id, ...(teamId ? { teamId } : {}) },
        subject: {
          channel: shortcut.channel.id,
          ts: message.ts,
          threadTs: message.thread_ts,
          author: message.user ?? message.bot_id,
          text: message.text ?? "",
        },
        botUserId: context.botUserId,
      };
      const explain = (text: string): Promise<unknown> => respond({ response_type: "ephemeral", text });
      services.tasks.run("ask_about_message", async () => {
        if (!(await needsClusterChoice(services, input))) {
          await askAboutMessage(services, client, input, explain);
          return;
        }
        // Someone who may not ask here is told so at once, not asked for a cluster first. Both
        // run together: the trigger id lives 3 s.
        const [refusal, held] = await Promise.all([
          services.access.refusal(input.requester, conversationOfSubject(input)),
          holdRequest(services, input),
        ]);
        if (refusal) {
          await dropHeldRequest(services, held);
          await explain(`:no_entry: ${sanitizePlain(refusal)}`);
          return;
        }
        // Nothing is posted or run until the person picks a cluster.
        try {
          await client.views.open({
            trigger_id: shortcut.trigger_id,
            view: clusterChoiceModal(services.clusters.names, held),
          });
        } catch (error) {
          services.logger.warn({ err: describeError(error) }, "cluster choice could not be opened");
          await dropHeldRequest(services, held);
          await explain(
            sanitizePlain(
              `This channel has no default cluster and I could not ask which one you mean (${describeError(error)}). Reply to the message mentioning me with \`--cluster <name>\`, one of: ${services.clusters.names.map((name) => `\`${name}\``).join(", ")}.`,
            ),
          );
        }
      });
    },
  );

  app.view<ViewSubmitAction>(ASK_CLUSTER_CALLBACK_ID, async ({ ack, body, view, client }) => {
    /** The form stays open with this sentence under the cluster field; nothing is used up. */
    const answerOnForm = (sentence: string): Promise<void> =>
      ack({ response_action: "errors", errors: { [ASK_CLUSTER_BLOCK_ID]: sentence } });
    const name = view.state.values[ASK_CLUSTER_BLOCK_ID]?.[ASK_CLUSTER_SELECT_ID]?.selected_option?.value;
    const cluster = name === undefined ? undefined : services.clusters.get(name);
    if (!cluster) return answerOnForm("Pick one of the clusters listed.");
    let held: Awaited<ReturnType<typeof takeHeldRequest>>;
    try {
      held = await takeHeldRequest(services, view.private_metadata, body.user.id);
    } catch (error) {
      services.logger.warn({ err: describeError(error) }, "held request could not be read");
      return answerOnForm("I could not read this request just now; try again in a moment.");
    }
    if (held === "gone") {
      return answerOnForm(
        `This request is no longer open (it was sent already, or ${HELD_REQUEST_SECONDS / 60} minutes passed). Close this and run the shortcut again.`,
      );
    }
    if (held === "not-yours") return answerOnForm("Only the person who asked can choose the cluster.");
    await ack();
    const explain = (text: string): Promise<unknown> =>
      client.chat.postEphemeral({ channel: held.subject.channel, user: held.requester.id, text });
    services.tasks.run("ask_about_message", () =>
      askAboutMessage(services, client, { ...held, cluster: cluster.name }, explain),
    );
  });
}
