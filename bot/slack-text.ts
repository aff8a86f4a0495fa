/**
 * What a person typed in Slack, as plain text for the model and the direct
 * command parser: the bot's own mention removed, links unwrapped, Slack's
 * entity escaping undone.
 */
export function slackTextToPlain(text: string, botUserId: string | undefined): string {
  let out = text;
  if (botUserId) out = out.replace(new RegExp(`<@${botUserId}(\\|[^>]*)?>`, "g"), "");
  out = out
    .replace(/<((?:https?|mailto):[^|>]+)\|([^>]+)>/g, "$2 ($1)")
    .replace(/<((?:https?|mailto):[^>]+)>/g, "$1")
    .replace(/<#[CG][A-Z0-9]+\|([^>]*)>/g, "#$1")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
  return out.replace(/\s+/g, " ").trim();
}
