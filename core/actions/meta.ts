/** The `_meta` keys of a tools/call that carry who is asking and from where. */
export const META_KEYS = {
  requester: "deputy/requester",
  conversation: "deputy/conversation",
  prompt: "deputy/prompt",
  reason: "deputy/reason",
} as const;

/** How much of the prompt and of the stated reason travels with a call (the server takes up to 8000 and 2000). */
const PROMPT_MAX = 4000;
const REASON_MAX = 500;

/**
 * The `_meta` of a tools/call made for someone: who asks and from which
 * conversation, and, when there is one, the prompt and the reason shown on
 * the card. Slack handlers, the agent loop and the local console all call
 * the MCP server with this.
 */
export function callerMeta(caller: {
  requester: unknown;
  conversation: unknown;
  prompt?: string | undefined;
  reason?: string | undefined;
}): Record<string, unknown> {
  return {
    [META_KEYS.requester]: caller.requester,
    [META_KEYS.conversation]: caller.conversation,
    ...(caller.prompt !== undefined ? { [META_KEYS.prompt]: caller.prompt.slice(0, PROMPT_MAX) } : {}),
    ...(caller.reason ? { [META_KEYS.reason]: caller.reason.slice(0, REASON_MAX) } : {}),
  };
}
