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
}

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
  return {
    async refusal(requester, conversation) {
      if (conversation.surface !== "slack") return undefined;
      if (isDirectMessageChannel(conversation.channel)) {
        if (!access.allowDirectMessages) {
          return refuse(
            "direct-messages-off",
            "Deputy does not take requests in direct messages here; ask in one of the team channels it serves.",
            requester,
            conversation,
          );
        }
      } else if (access.channels.length > 0 && !access.channels.includes(conversation.channel)) {
        return refuse(
          "channel-not-allowed",
          "Deputy is not enabled in this channel; ask in a channel where your team uses Deputy.",
          requester,
          conversation,
        );
      }
      if (access.requesterGroup) {
        // Fail closed: if Slack cannot say, the answer is no.
        const member = deps.isInRequesterGroup
          ? await deps.isInRequesterGroup(requester).catch(() => false)
          : false;
        if (!member) {
          return refuse(
            "requester-not-in-group",
            "Only members of Deputy's requester group may ask it to look at or change the cluster.",
            requester,
            conversation,
          );
        }
      }
      return undefined;
    },
  };
}
