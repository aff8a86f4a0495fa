import type { webApi } from "@slack/bolt";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { PendingAction } from "../../core/actions/schema.ts";
import { writePausesOf, type WritePause } from "../../core/anomaly.ts";
import { describeError } from "../../core/errors.ts";
import { sameIdentity, type Identity } from "../../core/identity.ts";
import type { BotServices } from "../deps.ts";

/**
 * What an on-call engineer reaches for first: which actions wait for them,
 * which they asked for, whether writes are paused, and how the cluster looks.
 * Read from the signed store (a tampered action is left out), the pause key,
 * and Deputy's MCP read tools (so the health line shows only what the read
 * identity and the namespace policy let anyone see).
 */
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

async function readTool(services: BotServices, name: string, args: Record<string, unknown>) {
  const result = (await services.mcp.callTool({ name, arguments: args }, undefined, {
    timeout: 10_000,
  })) as CallToolResult;
  return result.isError ? undefined : ((result.structuredContent ?? {}) as Record<string, unknown>);
}

/** One line: nodes and pods that are not healthy, as the read identity sees them. */
export async function healthLine(services: BotServices): Promise<string> {
  try {
    const [nodes, pods] = await Promise.all([
      readTool(services, "show_unhealthy_nodes", {}),
      readTool(services, "list_pods", { unhealthyOnly: true, limit: 1 }),
    ]);
    if (!nodes || !pods) return "Cluster health could not be read.";
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
    return `Cluster: ${nodePart}; ${badPods === 0 ? "no unhealthy pods" : `${badPods} unhealthy pod(s)`} in the namespaces Deputy may read.`;
  } catch (error) {
    return `Cluster health could not be read: ${describeError(error)}`;
  }
}

/** A pause in any served cluster; with several clusters the reason names the cluster(s). */
async function writePauseOfAny(services: BotServices): Promise<WritePause | undefined> {
  const pauses = await writePausesOf(services.redis, services.redisPrefix, services.clusterNames);
  const [first] = pauses;
  if (!first) return undefined;
  if (services.clusterNames.length === 1) return first;
  return {
    ...first,
    reason: pauses.map((pause) => `in cluster ${pause.cluster}: ${pause.reason}`).join("; "),
  };
}

export async function pendingOverview(
  services: BotServices,
  client: webApi.WebClient,
  user: Identity,
): Promise<PendingOverview> {
  const [actions, pause, isApprover, health] = await Promise.all([
    services.actions.list("pending", MAX_LISTED),
    writePauseOfAny(services),
    services.isApprover(user),
    healthLine(services),
  ]);
  const now = Date.now();
  const live = actions
    .filter((action) => Date.parse(action.expiresAt) > now)
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
    at: now,
  };
}
