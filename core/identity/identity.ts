import { z } from "zod";

/** Who asked or decided: a Slack user (team + user id) or a local-mode user. */
export const identitySchema = z.object({
  kind: z.enum(["slack", "local"]),
  id: z.string().min(1).max(64),
  teamId: z.string().max(64).optional(),
  name: z.string().max(128).optional(),
});
export type Identity = z.infer<typeof identitySchema>;

/** Where a conversation lives, so results can be posted back to it. */
export const conversationSchema = z.object({
  surface: z.enum(["slack", "console", "cli"]),
  teamId: z.string().max(64).optional(),
  channel: z.string().min(1).max(128),
  thread: z.string().min(1).max(128),
});
export type ConversationRef = z.infer<typeof conversationSchema>;

/**
 * Stable comparison key: the same person is the same key on every path. A
 * Slack user id is unique across an Enterprise Grid org, while the team id a
 * payload carries depends on the workspace or Slack Connect channel the click
 * came from, so the user id alone decides; the team id is for display.
 */
export function identityKey(identity: Identity): string {
  return identity.kind === "slack" ? `slack:${identity.id}` : `local:${identity.id}`;
}

/**
 * The Slack user id an approver list entry names: `U123` or, as older
 * configurations wrote it, `T123:U123` (the team part is ignored, see identityKey).
 */
export function slackUserIdOf(entry: string): string {
  return entry.split(":").at(-1) ?? entry;
}

export function sameIdentity(a: Identity, b: Identity): boolean {
  return identityKey(a) === identityKey(b);
}
