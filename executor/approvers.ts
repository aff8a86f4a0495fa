import { slackUserIdOf, type Identity } from "../core/identity/identity.ts";

/**
 * Who may decide a pending action. One person is one Slack user id (unique
 * across an Enterprise Grid org): the team id a click carries is display
 * only, so neither the approver list nor the two-person rule looks at it.
 * Local-mode identities (`kind: "local"`) exist only in local mode, where the
 * console is the only caller; any other process refuses them outright.
 */
export interface ApproverPolicy {
  /** Slack user ids allowed to approve (`U…`; a `T…:U…` entry counts as its user id). */
  slackUserIds: readonly string[];
  /** The configured approver user group (DEPUTY_APPROVER_GROUP), if any. */
  group?: string | undefined;
  /**
   * Membership of the configured Slack user group, resolved here (an executor
   * that holds a Slack client). Slack is the source of truth.
   */
  isInGroup?: ((identity: Identity) => Promise<boolean>) | undefined;
  /**
   * Membership of any Slack user group the approval policy names, resolved
   * here (an executor that holds a Slack client). Slack is the source of truth.
   */
  isMemberOf?: ((identity: Identity, group: string) => Promise<boolean>) | undefined;
  /** Local-mode users with the approver role. */
  localApproverIds: readonly string[];
  /** True only in local mode: `local` identities are accepted at all. */
  localIdentities?: boolean;
}

/** What an authenticated caller vouched for along with a decision (the signed assertion's claims). */
export interface DecisionContext {
  /** User groups the caller verified the approver belongs to, at the time of the click. */
  verifiedApproverGroups?: readonly string[];
  /**
   * The policy's user groups the caller verified each person (Slack user id)
   * is in at the time of the click: the approver and the requester.
   */
  verifiedGroupMembers?: Readonly<Record<string, readonly string[]>>;
}

/** A sentence when this identity kind is not accepted by this process at all. */
export function identityKindRefusal(policy: ApproverPolicy, identity: Identity): string | undefined {
  if (identity.kind === "local" && !policy.localIdentities) {
    return `Local-mode identities (local:${identity.id}) are accepted only by Deputy's local mode; this executor decides for Slack users only. Nothing was done.`;
  }
  return undefined;
}

export async function isAuthorisedApprover(
  policy: ApproverPolicy,
  identity: Identity,
  context: DecisionContext = {},
): Promise<boolean> {
  if (identity.kind === "local") {
    return policy.localIdentities === true && policy.localApproverIds.includes(identity.id);
  }
  if (policy.slackUserIds.some((entry) => slackUserIdOf(entry) === identity.id)) return true;
  if (!policy.group) return false;
  // The bot verified membership with Slack and signed it into the request; only the bot holds that key.
  if (context.verifiedApproverGroups?.includes(policy.group)) return true;
  if (!policy.isInGroup) return false;
  try {
    return await policy.isInGroup(identity);
  } catch {
    // Fail closed: if Slack cannot say, the answer is no.
    return false;
  }
}

/**
 * Whether a person is in a Slack user group now: vouched for by the caller
 * for this person, or asked of Slack here. Anything unknown is no.
 */
export async function isGroupMember(
  policy: ApproverPolicy,
  identity: Identity,
  group: string,
  context: DecisionContext,
  isApprover: boolean,
): Promise<boolean> {
  if (identity.kind !== "slack") return false;
  if (context.verifiedGroupMembers?.[identity.id]?.includes(group)) return true;
  if (isApprover && context.verifiedApproverGroups?.includes(group)) return true;
  const ask =
    policy.isMemberOf ??
    (policy.isInGroup && group === policy.group ? (who: Identity) => policy.isInGroup!(who) : undefined);
  if (!ask) return false;
  try {
    return await ask(identity, group);
  } catch {
    // Fail closed: if Slack cannot say, the answer is no.
    return false;
  }
}
