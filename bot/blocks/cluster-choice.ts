import type { types } from "@slack/bolt";

/** The modal that asks which cluster a message handed to Deputy is about. */
export const ASK_CLUSTER_CALLBACK_ID = "deputy_ask_cluster";
export const ASK_CLUSTER_BLOCK_ID = "cluster";
export const ASK_CLUSTER_SELECT_ID = "cluster_choice";

/** Slack's limit on a static select's options. */
const MAX_OPTIONS = 100;

/**
 * "Ask Deputy about this message" in a channel with no default cluster: the
 * person picks the cluster before anything is posted or run. `heldId` names
 * the held request (the message and who asked), never the message itself.
 */
export function clusterChoiceModal(clusters: readonly string[], heldId: string): types.ModalView {
  return {
    type: "modal",
    callback_id: ASK_CLUSTER_CALLBACK_ID,
    private_metadata: heldId,
    title: { type: "plain_text", text: "Ask Deputy" },
    submit: { type: "plain_text", text: "Investigate" },
    close: { type: "plain_text", text: "Cancel" },
    blocks: [
      {
        type: "section",
        text: {
          type: "mrkdwn",
          text: "This channel has no default cluster. Which cluster is this message about? I will investigate there, in a thread under the message, and the thread stays on that cluster.",
        },
      },
      {
        type: "input",
        block_id: ASK_CLUSTER_BLOCK_ID,
        label: { type: "plain_text", text: "Cluster" },
        element: {
          type: "static_select",
          action_id: ASK_CLUSTER_SELECT_ID,
          placeholder: { type: "plain_text", text: "Pick a cluster" },
          options: clusters.slice(0, MAX_OPTIONS).map((name) => ({
            text: { type: "plain_text", text: name },
            value: name,
          })),
        },
      },
    ],
  };
}
