import type { webApi } from "@slack/bolt";
import type { Identity } from "../core/identity/identity.ts";

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
