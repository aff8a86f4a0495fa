import type { AuditLog } from "../core/audit/log.ts";
import { conversationScope, isDirectMessageChannel, type ScopeVerdict } from "../core/identity/access.ts";
import type { Config } from "../core/config/config.ts";
import { sameIdentity, type ConversationRef, type Identity } from "../core/identity/identity.ts";
import type { UserGroupChecker } from "./approvers.ts";

/**
 * Who may ask Deputy, and from where: an allow-list of channels
 * (DEPUTY_ALLOWED_CHANNELS), direct messages only when DEPUTY_ALLOW_DIRECT_MESSAGES
 * is on, and optionally members of a requester user group
 * (DEPUTY_REQUESTER_GROUP). Once DEPUTY_CHANNEL_NAMESPACES scopes any
 * channel, a conversation without a scope of its own (or a `*` entry) is
 * refused here too, as the MCP server refuses its requests. Checked before
 * any tool call or model turn; a refusal is a sentence for the person and an
 * audit record.
 */
export interface RequesterAccess {
  /** Undefined when allowed; otherwise the sentence to show (already audited). */
  refusal(requester: Identity, conversation: ConversationRef): Promise<string | undefined>;
  /**
   * The rules of a question, for someone who did not ask in the channel but
   * clicked there (a button on a card in a public channel can be clicked
   * without joining it): the same as `refusal`, and they must be a member of
   * the channel (of a direct message: its owner, `owner`). Fails closed.
   */
  memberRefusal(
    requester: Identity,
    conversation: ConversationRef,
    owner?: Identity,
  ): Promise<string | undefined>;
  /**
   * The person alone, wherever they are (the App Home has no channel): the
   * requester group. Undefined when allowed; otherwise the sentence (audited).
   */
  personRefusal(requester: Identity, conversation: ConversationRef): Promise<string | undefined>;
  /**
   * The channel rules alone (allow-list, direct messages), not audited: for
   * leaving out of a list what was proposed where Deputy does not serve now.
   */
  channelServed(conversation: ConversationRef): boolean;
  /**
   * Whose namespaces a view without a channel of its own (the App Home) may
   * show: the direct-message scope when direct messages are on, everything
   * the global lists allow when no channel is narrowed, otherwise nothing.
   */
  channellessScope(): "direct-messages" | "global" | "none";
  /** What a conversation may see (DEPUTY_CHANNEL_NAMESPACES), as the MCP server will decide it. */
  scopeOf(conversation: ConversationRef): ScopeVerdict;
}

const CHANNEL_REFUSAL =
  "Deputy is not enabled in this channel; ask in a channel where your team uses Deputy.";
const DM_REFUSAL =
  "Deputy does not take requests in direct messages here; ask in one of the team channels it serves.";
const GROUP_REFUSAL = "Only members of Deputy's requester group may ask it to look at or change the cluster.";
const MEMBER_REFUSAL =
  "Only members of the channel this card is in may ask Deputy to act on it; join the channel and ask there.";

export function createRequesterAccess(deps: {
  access: Config["access"];
  isInRequesterGroup: UserGroupChecker | undefined;
  /** Slack's conversations.members; without it membership cannot be shown, so it is refused. */
  isChannelMember?: (channel: string, user: string) => Promise<boolean>;
  audit: AuditLog | undefined;
}): RequesterAccess {
  const { access } = deps;
  const refuse = (
    rule: string,
    message: string,
    requester: Identity,
    conversation: ConversationRef,
  ): string => {
    deps.audit?.record({
      kind: "policy_decision",
      decision: "refused",
      rule,
      message,
      actor: requester,
      conversation,
    });
    return message;
  };
  const channelRule = (conversation: ConversationRef): { rule: string; message: string } | undefined => {
    if (conversation.surface !== "slack") return undefined;
    if (isDirectMessageChannel(conversation.channel)) {
      return access.allowDirectMessages
        ? scopeRule(conversation)
        : { rule: "direct-messages-off", message: DM_REFUSAL };
    }
    if (access.channels.length > 0 && !access.channels.includes(conversation.channel)) {
      return { rule: "channel-not-allowed", message: CHANNEL_REFUSAL };
    }
    return scopeRule(conversation);
  };
  const scopeRule = (conversation: ConversationRef): { rule: string; message: string } | undefined => {
    const scope = conversationScope(access, conversation);
    return scope.kind === "refused" ? { rule: scope.rule, message: scope.message } : undefined;
  };
  const personRefusal = async (
    requester: Identity,
    conversation: ConversationRef,
  ): Promise<string | undefined> => {
    if (conversation.surface !== "slack" || !access.requesterGroup) return undefined;
    // Fail closed: if Slack cannot say, the answer is no.
    const member = deps.isInRequesterGroup
      ? await deps.isInRequesterGroup(requester).catch(() => false)
      : false;
    return member ? undefined : refuse("requester-not-in-group", GROUP_REFUSAL, requester, conversation);
  };
  const refusal = async (requester: Identity, conversation: ConversationRef): Promise<string | undefined> => {
    const channel = channelRule(conversation);
    if (channel) return refuse(channel.rule, channel.message, requester, conversation);
    return personRefusal(requester, conversation);
  };
  const isMember = async (requester: Identity, conversation: ConversationRef, owner?: Identity) => {
    if (isDirectMessageChannel(conversation.channel))
      return owner !== undefined && sameIdentity(owner, requester);
    if (!deps.isChannelMember) return false;
    return deps.isChannelMember(conversation.channel, requester.id).catch(() => false);
  };
  return {
    refusal,
    async memberRefusal(requester, conversation, owner) {
      const refused = await refusal(requester, conversation);
      if (refused || conversation.surface !== "slack") return refused;
      return (await isMember(requester, conversation, owner))
        ? undefined
        : refuse("not-channel-member", MEMBER_REFUSAL, requester, conversation);
    },
    personRefusal,
    channelServed: (conversation) => channelRule(conversation) === undefined,
    scopeOf: (conversation) => conversationScope(access, conversation),
    channellessScope() {
      // Direct messages without a scope of their own (nor a "*" entry) are refused, so show none.
      const dm = conversationScope(access, { surface: "slack", channel: "D0HOME", thread: "0" });
      if (access.allowDirectMessages && dm.kind !== "refused") return "direct-messages";
      return Object.keys(access.channelNamespaces).length === 0 ? "global" : "none";
    },
  };
}
