import type { webApi } from "@slack/bolt";
import type { Identity } from "../core/identity/identity.ts";
import { approverMentions, evaluatePolicy } from "../core/actions/approval-policy.ts";
import type { ApprovalProgress, PendingAction } from "../core/actions/schema.ts";
import type { CardPolicy } from "./blocks/approval-card.ts";
import type { ApprovalPolicy } from "../core/actions/approval-policy.ts";

/**
 * Who may approve, as Slack sees it: the mention on the card, and membership
 * of the configured user group (resolved with usergroups.users.list, cached
 * briefly) for the executor's `isInGroup` check.
 */
export function approverMention(approvers: readonly string[], group: string | undefined): string | undefined {
  if (group && /^S[A-Z0-9]+$/.test(group)) return `<!subteam^${group}>`;
  const users = approvers
    .map((entry) => entry.split(":").at(-1) ?? "")
    .filter((id) => /^[UW][A-Z0-9]+$/.test(id))
    .map((id) => `<@${id}>`);
  return users.length > 0 ? users.join(" ") : undefined;
}

export interface UserGroupChecker {
  (identity: Identity): Promise<boolean>;
}

/** Membership of `groupId`, cached for `ttlMs`; concurrent lookups share one call. Errors propagate (the executor fails closed). */
export function createUserGroupChecker(
  client: webApi.WebClient,
  groupId: string,
  ttlMs = 60_000,
): UserGroupChecker {
  let cached: { at: number; members: Promise<Set<string>> } | undefined;
  const members = (): Promise<Set<string>> => {
    if (cached && Date.now() - cached.at < ttlMs) return cached.members;
    const fetching = client.usergroups.users
      .list({ usergroup: groupId })
      .then((response) => new Set(response.users ?? []));
    cached = { at: Date.now(), members: fetching };
    fetching.catch(() => {
      if (cached?.members === fetching) cached = undefined;
    });
    return fetching;
  };
  return async (identity) => identity.kind === "slack" && (await members()).has(identity.id);
}

/** The approval policy file as the bot holds it, with Slack's word on group membership. */
export interface BotApprovalPolicy {
  policy: ApprovalPolicy;
  isMemberOf: (identity: Identity, group: string) => Promise<boolean>;
}

/**
 * What the approval policy file says of a stored action, for its card: the
 * rule, who may approve, how many, break-glass. Display only: the executor
 * evaluates its own copy at each click. The requester's groups are looked up
 * only when the policy reads them.
 */
export async function cardPolicyFor(
  approval: BotApprovalPolicy | undefined,
  action: PendingAction,
  now: Date = new Date(),
): Promise<CardPolicy | undefined> {
  if (!approval) return undefined;
  const { policy } = approval;
  const readsGroups = policy.rules.some((rule) => rule.when.includes("requester"));
  const requesterGroups = readsGroups
    ? (
        await Promise.all(
          Object.entries(policy.groups).map(async ([name, id]) =>
            (await approval.isMemberOf(action.requester, id).catch(() => false)) ? name : undefined,
          ),
        )
      ).filter((name): name is string => name !== undefined)
    : [];
  const verdict = evaluatePolicy(policy, { action, requesterGroups, now });
  if (verdict.kind !== "approve")
    return { rule: verdict.rule, refused: verdict.reason, mayApprove: [], required: 1, approvals: [] };
  return {
    rule: verdict.rule,
    mayApprove: approverMentions(policy, verdict.approvers),
    required: verdict.required,
    approvals: [],
    ...(verdict.breakGlass
      ? { breakGlass: approverMentions(policy, { users: [], groups: [verdict.breakGlass] })[0] }
      : {}),
  };
}

/** The executor's word on where an approval stands, as the card shows it. */
export function cardPolicyOf(progress: ApprovalProgress): CardPolicy {
  return {
    rule: progress.rule,
    mayApprove: progress.mayApprove,
    required: progress.required,
    approvals: progress.approvals,
    ...(progress.breakGlass ? { breakGlass: progress.breakGlass } : {}),
  };
}
