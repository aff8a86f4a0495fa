import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { DeputyError } from "../core/errors.ts";
import type { ApprovalDecider } from "../executor/approval-executor.ts";

/**
 * The clusters this bot serves. Each keeps its own MCP server (its read
 * identity) and its own executor (its OpenBao roles); the bot holds a client
 * of each and nothing else. A thread works on one cluster at a time
 * (handlers/thread-cluster.ts); a decision goes to the executor of the
 * cluster its action was proposed in.
 */
export interface ServedCluster {
  name: string;
  /** This cluster's MCP server: the only tools a thread bound here can call. */
  mcp: Client;
  /** This cluster's executor: the only one its actions' decisions go to. */
  decider: ApprovalDecider;
  /** Slack channel ids whose threads start on this cluster. */
  channels: readonly string[];
}

export interface ServedClusters {
  readonly names: readonly string[];
  readonly all: readonly ServedCluster[];
  get(name: string): ServedCluster | undefined;
  /**
   * The served cluster an action of cluster `name` belongs to: with one
   * cluster, that one (its executor refuses another cluster's action itself);
   * with several, the one of that name.
   */
  ofAction(name: string): ServedCluster | undefined;
  /** The cluster a channel's new threads start on: the only one, or the channel's default. */
  defaultFor(channel: string | undefined): ServedCluster | undefined;
}

export function servedClusters(list: readonly ServedCluster[]): ServedClusters {
  if (list.length === 0) throw new DeputyError("CONFIG_INVALID", "the bot serves no cluster");
  const byName = new Map<string, ServedCluster>();
  for (const cluster of list) {
    if (byName.has(cluster.name)) {
      throw new DeputyError("CONFIG_INVALID", `cluster ${cluster.name} is served twice`);
    }
    byName.set(cluster.name, cluster);
  }
  const names = list.map((cluster) => cluster.name);
  return {
    names,
    all: list,
    get: (name) => byName.get(name),
    ofAction: (name) => (list.length === 1 ? list[0] : byName.get(name)),
    defaultFor(channel) {
      if (list.length === 1) return list[0];
      if (channel === undefined) return undefined;
      return list.find((cluster) => cluster.channels.includes(channel));
    },
  };
}
