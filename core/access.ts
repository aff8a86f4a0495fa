import type { Config } from "./config.ts";
import type { ConversationRef } from "./identity.ts";

/**
 * Which namespaces a conversation may see: DEPUTY_CHANNEL_NAMESPACES maps a
 * Slack channel id (or "dm" for every direct message) to namespace globs.
 * A channel with no entry sees what the global lists allow. The MCP server
 * applies this to every tool call of that conversation, reads and writes.
 */
export const DM_SCOPE = "dm";

/** Slack direct-message channel ids start with D. */
export function isDirectMessageChannel(channel: string): boolean {
  return /^D[A-Z0-9]+$/.test(channel);
}

export function channelScope(
  access: Config["access"],
  conversation: ConversationRef | undefined,
): { channel: string; namespaces: readonly string[] } | undefined {
  if (!conversation || conversation.surface !== "slack") return undefined;
  const channel = isDirectMessageChannel(conversation.channel) ? DM_SCOPE : conversation.channel;
  const namespaces = access.channelNamespaces[channel];
  return namespaces ? { channel, namespaces } : undefined;
}
