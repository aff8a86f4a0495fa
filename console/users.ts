import type { LocalUser } from "../core/config/config.ts";
import { DeputyError } from "../core/errors.ts";
import type { Identity } from "../core/identity/identity.ts";

/**
 * Local mode's people: a small configured set (DEPUTY_LOCAL_USERS). The browser
 * sends the selected user with every request; only configured users are
 * accepted. Whether a user may approve is decided by the executor, never here,
 * so the console cannot weaken the two-person rule.
 */
export function localIdentity(user: LocalUser): Identity {
  return { kind: "local", id: user.id, name: user.id };
}

export function resolveLocalUser(
  users: readonly LocalUser[],
  id: unknown,
): { user: LocalUser; identity: Identity } {
  if (typeof id !== "string" || id.length === 0) {
    throw new DeputyError("INPUT_INVALID", 'no user selected: send the acting local user as "user"');
  }
  const user = users.find((candidate) => candidate.id === id);
  if (!user) {
    const known = users.map((candidate) => candidate.id).join(", ");
    throw new DeputyError(
      "INPUT_INVALID",
      `"${id.slice(0, 64)}" is not a configured local user (known: ${known})`,
      {
        details: { rule: "unknown-local-user" },
      },
    );
  }
  return { user, identity: localIdentity(user) };
}

/** Local users with the approver role: the executor's approver list in local mode. */
export function localApprovers(users: readonly LocalUser[]): string[] {
  return users.filter((user) => user.roles.includes("approver")).map((user) => user.id);
}
