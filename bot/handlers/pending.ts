import type { webApi } from "@slack/bolt";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { PendingAction } from "../../core/actions/schema.ts";
import { writePausesOf, type WritePause } from "../../core/observability/anomaly.ts";
import { describeError } from "../../core/errors.ts";
import { isDirectMessageChannel } from "../../core/identity/access.ts";
import { sameIdentity, type ConversationRef, type Identity } from "../../core/identity/identity.ts";
import { callerMeta } from "../../core/actions/meta.ts";
import { channelHasMember } from "../channel-members.ts";
import type { ServedCluster } from "../clusters.ts";
import type { BotServices } from "../deps.ts";

/**
 * What an on-call engineer reaches for first: which actions wait for them,
 * which they asked for, whether writes are paused, and how the cluster looks.
 * Read from the signed store (a tampered action is left out), the pause key,
 * and Deputy's MCP read tools (so the health line shows only what the read
 * identity and the namespace policy let anyone see).
 *
 * Only what the viewer may see is listed: an action proposed in a channel
 * Deputy no longer serves, in a channel the viewer is not a member of (Slack
 * says; if it cannot, the answer is no), or in someone else's direct
 * messages is left out, and not counted. The health line's reads carry the
 * viewer and the place the list was asked from, so the MCP server narrows
 * them to that channel's namespaces (DEPUTY_CHANNEL_NAMESPACES).
 */

/** Where the overview is shown: a channel (`/deputy pending`) or the App Home. */
export interface OverviewPlace {
  /** The channel `/deputy pending` ran in; undefined for the App Home. */
  channel: string | undefined;
  /**
   * The conversation the health line's reads belong to; "global" for no
   * channel narrowing; undefined when the viewer may see no cluster state here.
   */
  health: ConversationRef | "global" | undefined;
  /** `/deputy pending --cluster X`: only that cluster's actions, pause and health. */
  cluster?: string;
}
export interface PendingEntry {
  action: PendingAction;
  /** Link to the approval card, when the card is still tracked. */
  permalink: string | undefined;
}

export interface PendingOverview {
  forMe: PendingEntry[];
  mine: PendingEntry[];
  /** Waiting for someone else (I am neither an approver of it nor its requester). */
  others: number;
  pause: WritePause | undefined;
  isApprover: boolean;
  health: string;
  /** Several clusters served: each entry names its cluster. */
  severalClusters?: boolean;
  /** The one cluster asked about, when one was named. */
  cluster?: string;
  at: number;
}

const MAX_LISTED = 100;

async function permalinkOf(
  services: BotServices,
  client: webApi.WebClient,
  id: string,
): Promise<string | undefined> {
  const card = await services.cards.locate(id).catch(() => undefined);
  if (!card) return undefined;
  try {
    const link = await client.chat.getPermalink({ channel: card.channel, message_ts: card.ts });
    return link.permalink;
  } catch {
    return undefined;
  }
}

async function readTool(
  cluster: ServedCluster,
  name: string,
  args: Record<string, unknown>,
  viewer: Identity,
  conversation: ConversationRef | undefined,
) {
  // Without a conversation (the App Home) the key is left out: JSON drops undefined.
  const _meta = callerMeta({ requester: viewer, conversation });
  const result = (await cluster.mcp.callTool({ name, arguments: args, _meta }, undefined, {
    timeout: 10_000,
  })) as CallToolResult;
  return result.isError ? undefined : ((result.structuredContent ?? {}) as Record<string, unknown>);
}

/**
 * Nodes and pods that are not healthy, as each cluster's read identity sees
 * them: one line for one cluster; with several, a line per cluster, or only
 * the channel's default cluster when it has one.
 */
export async function healthLine(
  services: BotServices,
  viewer: Identity,
  place: OverviewPlace["health"],
  only?: ServedCluster,
): Promise<string> {
  if (place === undefined) {
    return "Cluster health is shown where you use Deputy: run `/deputy pending` in one of its channels.";
  }
  const conversation = place === "global" ? undefined : place;
  const { clusters } = services;
  if (clusters.all.length === 1) return clusterHealth(clusters.all[0]!, viewer, conversation, "Cluster");
  const channelDefault = conversation ? clusters.defaultFor(conversation.channel) : undefined;
  const shown = only ? [only] : channelDefault ? [channelDefault] : clusters.all;
  const lines = await Promise.all(
    shown.map((cluster) => clusterHealth(cluster, viewer, conversation, `Cluster ${cluster.name}`)),
  );
  return lines.join("\n");
}

async function clusterHealth(
  cluster: ServedCluster,
  viewer: Identity,
  conversation: ConversationRef | undefined,
  label: string,
): Promise<string> {
  try {
    const [nodes, pods] = await Promise.all([
      readTool(cluster, "show_unhealthy_nodes", {}, viewer, conversation),
      readTool(cluster, "list_pods", { unhealthyOnly: true, limit: 1 }, viewer, conversation),
    ]);
    if (!nodes || !pods) return `${label} health could not be read.`;
    const unhealthy = Array.isArray(nodes.unhealthy) ? (nodes.unhealthy as { name?: unknown }[]) : [];
    const total = typeof nodes.total === "number" ? nodes.total : 0;
    const badPods =
      typeof pods.totalMatching === "number"
        ? pods.totalMatching
        : typeof pods.count === "number"
          ? pods.count
          : 0;
    const nodePart =
      unhealthy.length === 0
        ? `all ${total} node(s) healthy`
        : `${unhealthy.length} of ${total} node(s) unhealthy (${unhealthy
            .slice(0, 5)
            .map((node) => String(node.name))
            .join(", ")})`;
    const where = conversation
      ? "in the namespaces Deputy may read here"
      : "in the namespaces Deputy may read";
    return `${label}: ${nodePart}; ${badPods === 0 ? "no unhealthy pods" : `${badPods} unhealthy pod(s)`} ${where}.`;
  } catch (error) {
    return `${label} health could not be read: ${describeError(error)}`;
  }
}

/**
 * Whether the viewer may see an action: proposed in a Slack conversation
 * Deputy still serves, and either their own direct messages or a channel
 * they are a member of. Membership is asked of Slack once per channel.
 */
function createVisibility(
  services: BotServices,
  client: webApi.WebClient,
  viewer: Identity,
  place: OverviewPlace,
): (action: PendingAction) => Promise<boolean> {
  const members = new Map<string, Promise<boolean>>();
  const isMember = (channel: string): Promise<boolean> => {
    let known = members.get(channel);
    if (!known) {
      known = channelHasMember(client, channel, viewer.id);
      members.set(channel, known);
    }
    return known;
  };
  return async (action) => {
    const conversation = action.conversation;
    if (!conversation || conversation.surface !== "slack") return false;
    if (!services.access.channelServed(conversation)) return false;
    if (isDirectMessageChannel(conversation.channel)) return sameIdentity(action.requester, viewer);
    // Slack delivered the command from this channel: the viewer is in it.
    if (conversation.channel === place.channel) return true;
    return isMember(conversation.channel);
  };
}

/** A pause in any served cluster; with several clusters the reason names the cluster(s). */
async function writePauseOfAny(
  services: BotServices,
  names: readonly string[],
): Promise<WritePause | undefined> {
  const pauses = await writePausesOf(services.redis, services.redisPrefix, names);
  const [first] = pauses;
  if (!first) return undefined;
  if (services.clusters.names.length === 1) return first;
  return {
    ...first,
    reason: pauses.map((pause) => `in cluster ${pause.cluster}: ${pause.reason}`).join("; "),
  };
}

export async function pendingOverview(
  services: BotServices,
  client: webApi.WebClient,
  user: Identity,
  place: OverviewPlace,
): Promise<PendingOverview> {
  // A named cluster narrows everything; with one cluster served there is nothing to narrow.
  const only =
    place.cluster !== undefined && services.clusters.all.length > 1
      ? services.clusters.get(place.cluster)
      : undefined;
  const [actions, pause, isApprover, health] = await Promise.all([
    services.actions.list("pending", MAX_LISTED),
    writePauseOfAny(services, only ? [only.name] : services.clusters.names),
    services.isApprover(user),
    healthLine(services, user, place.health, only),
  ]);
  const now = Date.now();
  const visible = createVisibility(services, client, user, place);
  const candidates = actions.filter(
    (action) => Date.parse(action.expiresAt) > now && (!only || action.cluster === only.name),
  );
  const shown = await Promise.all(candidates.map(visible));
  const live = candidates
    .filter((_, index) => shown[index])
    .sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt));
  const mineActions = live.filter((action) => sameIdentity(action.requester, user));
  const forMeActions = isApprover ? live.filter((action) => !sameIdentity(action.requester, user)) : [];
  const entry = async (action: PendingAction): Promise<PendingEntry> => ({
    action,
    permalink: await permalinkOf(services, client, action.id),
  });
  return {
    forMe: await Promise.all(forMeActions.map(entry)),
    mine: await Promise.all(mineActions.map(entry)),
    others: live.length - mineActions.length - forMeActions.length,
    pause,
    isApprover,
    health,
    severalClusters: services.clusters.all.length > 1,
    ...(only ? { cluster: only.name } : {}),
    at: now,
  };
}
