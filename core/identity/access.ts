import type { ConversationRef } from "./identity.ts";

/**
 * What a conversation may see and change, from DEPUTY_CHANNEL_NAMESPACES.
 * Each entry maps a Slack channel id, `dm` (every direct message) or `*`
 * (every channel not listed) to a `|`-separated list of namespace globs and,
 * optionally, CLUSTER_WIDE (`@cluster`): cluster-scoped actions such as
 * cordoning or draining a node, which affect every namespace.
 *
 * With no entry at all nothing is narrowed (the global lists decide). Once
 * any entry exists, a Slack conversation without one of its own and without
 * a `*` entry is refused: a channel anyone can create must not inherit the
 * global scope. Console and CLI conversations (local mode) are not narrowed.
 * The MCP server applies this to every request of that conversation, and
 * the bot before it answers, diagnoses or proposes anything there.
 */
export const DM_SCOPE = "dm";
/** The entry for every channel (and direct message) without one of its own. */
export const OTHER_CHANNELS = "*";
/** The scope item that allows cluster-scoped actions (nodes); never a namespace name. */
export const CLUSTER_WIDE = "@cluster";

/**
 * The parsed DEPUTY_CHANNEL_NAMESPACES (core/config/config.ts): each entry's key
 * (a channel id, `dm` or `*`) and its items.
 */
export interface ChannelScopeSettings {
  channelNamespaces: Readonly<Record<string, readonly string[]>>;
}

export interface ChannelScope {
  /** The entry that applies: a channel id, `dm` or `*`. */
  channel: string;
  /** Namespace globs the conversation may read and change. */
  namespaces: readonly string[];
  /** True when the entry names CLUSTER_WIDE. */
  clusterWide: boolean;
}

export type ScopeVerdict =
  /** Nothing narrows this conversation (no entries, or not a Slack conversation). */
  | { kind: "unscoped" }
  | { kind: "scoped"; scope: ChannelScope }
  | { kind: "refused"; rule: typeof UNSCOPED_CHANNEL_RULE; message: string };

export const UNSCOPED_CHANNEL_RULE = "channel-unscoped";

/** Slack direct-message channel ids start with D. */
export function isDirectMessageChannel(channel: string): boolean {
  return /^D[A-Z0-9]+$/.test(channel);
}

/** Whether any channel scope is configured (then unlisted conversations are refused). */
export function channelScopesConfigured(access: ChannelScopeSettings): boolean {
  return Object.keys(access.channelNamespaces).length > 0;
}

export function scopeOfEntry(channel: string, items: readonly string[]): ChannelScope {
  return {
    channel,
    namespaces: items.filter((item) => item !== CLUSTER_WIDE),
    clusterWide: items.includes(CLUSTER_WIDE),
  };
}

/** The scope a conversation works in, or why it may not work at all. */
export function conversationScope(
  access: ChannelScopeSettings,
  conversation: ConversationRef | undefined,
): ScopeVerdict {
  if (!conversation || conversation.surface !== "slack") return { kind: "unscoped" };
  if (!channelScopesConfigured(access)) return { kind: "unscoped" };
  const dm = isDirectMessageChannel(conversation.channel);
  const own = dm ? DM_SCOPE : conversation.channel;
  for (const key of [own, OTHER_CHANNELS]) {
    const items = Object.hasOwn(access.channelNamespaces, key) ? access.channelNamespaces[key] : undefined;
    if (items) return { kind: "scoped", scope: scopeOfEntry(key, items) };
  }
  return {
    kind: "refused",
    rule: UNSCOPED_CHANNEL_RULE,
    message: `${dm ? "Direct messages have" : `Channel ${conversation.channel} has`} no entry in DEPUTY_CHANNEL_NAMESPACES, so Deputy does not work here; ask an operator to add one (or a "*" entry for every other channel).`,
  };
}

/** The channel's scope in words, for refusals: "channel C1 (DEPUTY_CHANNEL_NAMESPACES: shop, @cluster)". */
export function describeScope(scope: ChannelScope): string {
  const where =
    scope.channel === DM_SCOPE
      ? "direct messages"
      : scope.channel === OTHER_CHANNELS
        ? "this channel"
        : `channel ${scope.channel}`;
  const entry = scope.channel === OTHER_CHANNELS ? ' entry "*"' : "";
  const items = [...scope.namespaces, ...(scope.clusterWide ? [CLUSTER_WIDE] : [])];
  return `${where} (DEPUTY_CHANNEL_NAMESPACES${entry}: ${items.join(", ") || "none"})`;
}
