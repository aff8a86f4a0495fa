import type { webApi } from "@slack/bolt";

/**
 * The bot's workspace (team) id, asked of Slack once (auth.test) and kept;
 * asked again after a failure, which answers undefined. Conversations are
 * keyed by workspace, so threads the bot starts on its own (alerts, triage)
 * need it to be found by a later mention.
 */
export function workspaceTeamId(client: webApi.WebClient): () => Promise<string | undefined> {
  let team: Promise<string | undefined> | undefined;
  return () => {
    team ??= client.auth.test().then(
      (auth) => auth.team_id,
      () => {
        team = undefined;
        return undefined;
      },
    );
    return team;
  };
}
