import type { AuditLog } from "../core/audit.ts";
import { isDirectMessageChannel } from "../core/access.ts";
import type { Config } from "../core/config.ts";
import type { ConversationRef, Identity } from "../core/identity.ts";
import type { UserGroupChecker } from "./approvers.ts";

/**
 * Who may ask Deputy, and from where: an allow-list of channels
 * (DEPUTY_ALLOWED_CHANNELS), direct messages only when DEPUTY_ALLOW_DIRECT_MESSAGES
 * is on, and optionally members of a requester user group
 * (DEPUTY_REQUESTER_GROUP). Checked before any tool call or model turn; a
 * refusal is a sentence for the person and an audit record.
 */
export interface RequesterAccess {
  /** Undefined when allowed; otherwise the sentence to show (already audited). */
  refusal(requester: Identity, conversation: ConversationRef): Promise<string | undefined>;
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
}

const CHANNEL_REFUSAL =
  "Deputy is not enabled in this channel; ask in a channel where your team uses Deputy.";
const DM_REFUSAL =
  "Deputy does not take requests in direct messages here; ask in one of the team channels it serves.";
const GROUP_REFUSAL = "Only members of Deputy's requester group may ask it to look at or change the cluster.";

export function createRequesterAccess(deps: {
  access: Config["access"];
  isInRequesterGroup: UserGroupChecker | undefined;
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
      return access.allowDirectMessages ? undefined : { rule: "direct-messages-off", message: DM_REFUSAL };
    }
    if (access.channels.length > 0 && !access.channels.includes(conversation.channel)) {
      return { rule: "channel-not-allowed", message: CHANNEL_REFUSAL };
    }
    return undefined;
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
  return {
    async refusal(requester, conversation) {
      const channel = channelRule(conversation);
      if (channel) return refuse(channel.rule, channel.message, requester, conversation);
      return personRefusal(requester, conversation);
    },
    personRefusal,
    channelServed: (conversation) => channelRule(conversation) === undefined,
    channellessScope() {
      if (access.allowDirectMessages) return "direct-messages";
      return Object.keys(access.channelNamespaces).length === 0 ? "global" : "none";
    },
  };
}
