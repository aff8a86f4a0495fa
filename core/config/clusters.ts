import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { DeputyError } from "../errors.ts";

/**
 * The clusters one bot serves (DEPUTY_CLUSTERS). Each cluster keeps its own
 * MCP server (its read identity) and its own executor (its OpenBao roles):
 * the bot only holds their addresses. Without DEPUTY_CLUSTERS the bot serves
 * exactly one cluster, DEPUTY_CLUSTER_NAME, reached through DEPUTY_MCP_URL and
 * DEPUTY_EXECUTOR_URL (or in this process when those are unset).
 */
export interface ClusterConfig {
  /** A DNS label: it names the cluster in cards, audit records and Redis keys. */
  name: string;
  /** The cluster's MCP server; undefined: in this process (single cluster only). */
  mcpUrl: string | undefined;
  /** The cluster's executor; undefined: in this process (single cluster only). */
  executorUrl: string | undefined;
  /** Slack channel ids whose threads default to this cluster. */
  channels: string[];
}

/** DEPUTY_CLUSTER_NAME when unset. */
export const DEFAULT_CLUSTER_NAME = "local";

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export const clusterNameSchema = z
  .string()
  .regex(DNS_LABEL, "must be a DNS label (lower-case letters, digits and '-', at most 63, e.g. prod-eu)");

const httpUrl = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" });

const clusterSchema = z.strictObject({
  name: clusterNameSchema,
  mcpUrl: httpUrl,
  executorUrl: httpUrl,
  channels: z.array(z.string().regex(/^[A-Z0-9]+$/, "must be a Slack channel id like C0123")).default([]),
});

const clustersSchema = z.array(clusterSchema).min(1, "lists no cluster");

function readSpec(spec: string): unknown {
  const text = spec.trim();
  if (text.startsWith("[")) {
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new DeputyError(
        "CONFIG_INVALID",
        `DEPUTY_CLUSTERS is not valid JSON: ${(error as Error).message}`,
      );
    }
  }
  let content: string;
  try {
    content = readFileSync(text, "utf8");
  } catch (error) {
    throw new DeputyError(
      "CONFIG_INVALID",
      `DEPUTY_CLUSTERS is neither a JSON list nor a readable file (${text}): ${(error as Error).message}`,
    );
  }
  try {
    // YAML is a superset of JSON: one parser reads both kinds of file.
    return parseYaml(content);
  } catch (error) {
    throw new DeputyError(
      "CONFIG_INVALID",
      `DEPUTY_CLUSTERS file ${text} is not valid YAML or JSON: ${(error as Error).message}`,
    );
  }
}

/** DEPUTY_CLUSTERS when set; otherwise today's single cluster. */
export function parseClusters(
  spec: string | undefined,
  single: { name: string; mcpUrl: string | undefined; executorUrl: string | undefined },
): ClusterConfig[] {
  if (spec === undefined || spec.trim() === "") {
    return [{ name: single.name, mcpUrl: single.mcpUrl, executorUrl: single.executorUrl, channels: [] }];
  }
  const result = clustersSchema.safeParse(readSpec(spec));
  if (!result.success) {
    const problems = result.error.issues
      .map((issue) => (issue.path.length > 0 ? `[${issue.path.join(".")}] ${issue.message}` : issue.message))
      .join("; ");
    throw new DeputyError("CONFIG_INVALID", `DEPUTY_CLUSTERS: ${problems}`);
  }
  const clusters = result.data;
  const names = new Set<string>();
  const channelOwner = new Map<string, string>();
  for (const cluster of clusters) {
    if (names.has(cluster.name)) {
      throw new DeputyError("CONFIG_INVALID", `DEPUTY_CLUSTERS names cluster ${cluster.name} twice`);
    }
    names.add(cluster.name);
    for (const channel of cluster.channels) {
      const other = channelOwner.get(channel);
      if (other !== undefined) {
        throw new DeputyError(
          "CONFIG_INVALID",
          `DEPUTY_CLUSTERS: channel ${channel} defaults to both ${other} and ${cluster.name}; give it one default`,
        );
      }
      channelOwner.set(channel, cluster.name);
    }
  }
  return clusters;
}

/** The cluster a channel's threads start on, if the channel has one (or only one cluster exists). */
export function defaultClusterFor(
  clusters: readonly ClusterConfig[],
  channel: string,
): ClusterConfig | undefined {
  if (clusters.length === 1) return clusters[0];
  return clusters.find((cluster) => cluster.channels.includes(channel));
}

/**
 * Redis key prefix of one cluster's shared state (anomaly counters, write
 * pause): two clusters served from one Redis never share a pause or a count.
 */
export function clusterKeyPrefix(prefix: string, cluster: string): string {
  return `${prefix}cluster:${cluster}:`;
}
