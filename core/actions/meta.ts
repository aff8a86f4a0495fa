/** The `_meta` keys of a tools/call that carry who is asking and from where. */
export const META_KEYS = {
  requester: "deputy/requester",
  conversation: "deputy/conversation",
  prompt: "deputy/prompt",
  reason: "deputy/reason",
} as const;
