import {
  clusterChoiceHelp,
  clusterNamedIn,
  unknownClusterHelp,
  type ClusterChoice,
} from "../../core/config/cluster-choice.ts";
import type { ConversationRef } from "../../core/identity/identity.ts";
import type { ServedCluster } from "../clusters.ts";
import type { BotServices } from "../deps.ts";

/**
 * The cluster a message in a thread works on. With one cluster served it is
 * that one (a message may still name it; an unknown name is refused). With
 * several, a thread is bound to one: the cluster the message names ("in
 * prod-eu, …", "in cluster prod-eu …", `--cluster prod-eu`), else the one the
 * thread is already bound to, else the channel's default. Naming another
 * cluster moves the thread there; the model is told (a note for its next
 * turn), so it does not mix what it found in one cluster with the other. Nothing runs when no cluster can be
 * told: the person gets the list of clusters and how to name one.
 */
export type ThreadCluster =
  | {
      cluster: ServedCluster;
      /** The message without the naming of the cluster. */
      text: string;
    }
  | { refusal: string };

export async function clusterOfThread(
  services: BotServices,
  conversation: ConversationRef,
  text: string,
  /**
   * Deputy composed this message (an outcome, a message someone handed it):
   * its text is never parsed for a cluster, since what it quotes is data. It
   * works on the cluster it is `about`, else the thread's or channel's.
   */
  composed?: { about?: string },
): Promise<ThreadCluster> {
  const { clusters } = services;
  if (composed?.about !== undefined) {
    const cluster = clusters.get(composed.about);
    return cluster
      ? { cluster, text }
      : { refusal: `Cluster ${composed.about} is not served here any more.` };
  }
  const choice: ClusterChoice = composed ? { kind: "none", text } : clusterNamedIn(text, clusters.names);
  if (choice.kind === "unknown") return { refusal: unknownClusterHelp(clusters.names, choice.name) };
  if (clusters.all.length === 1) return { cluster: clusters.all[0]!, text: choice.text };

  const bound = await services.conversations.boundCluster(conversation);
  if (choice.kind === "named") {
    const cluster = clusters.get(choice.cluster)!;
    await bindThread(services, conversation, cluster.name, bound);
    return { cluster, text: choice.text };
  }
  const current = bound === undefined ? undefined : clusters.get(bound);
  if (current) return { cluster: current, text: choice.text };
  const fallback = clusters.defaultFor(conversation.channel);
  if (!fallback) {
    return {
      refusal: clusterChoiceHelp(
        clusters.names,
        bound === undefined
          ? "This channel has no default cluster, so I can't tell which one you mean; nothing was run."
          : `This thread was about cluster ${bound}, which is not served here any more; nothing was run.`,
      ),
    };
  }
  await services.conversations.bindCluster(conversation, fallback.name);
  return { cluster: fallback, text: choice.text };
}

/**
 * Bind a thread to the cluster someone named. When it was bound to another,
 * the agent's next turn in it hears of the move, whether the naming came with
 * a turn, a command or the cluster form.
 */
export async function bindThread(
  services: BotServices,
  conversation: ConversationRef,
  cluster: string,
  /** What the thread is bound to now (read by the caller, once). */
  previous: string | undefined,
): Promise<void> {
  if (previous === cluster) return;
  await services.conversations.bindCluster(conversation, cluster);
  if (previous) {
    await services.conversations.addNote(
      conversation,
      `The user moved this thread from cluster ${previous} to cluster ${cluster}. Your tools now read ${cluster} only; anything found earlier in this thread was about ${previous}.`,
    );
  }
}
