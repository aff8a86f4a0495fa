import type { webApi } from "@slack/bolt";

/** conversations.members, paged; any failure counts as "not a member" (fail closed). */
export async function channelHasMember(
  client: webApi.WebClient,
  channel: string,
  user: string,
): Promise<boolean> {
  try {
    let cursor: string | undefined;
    for (let page = 0; page < 50; page++) {
      const result = await client.conversations.members({
        channel,
        limit: 1000,
        ...(cursor ? { cursor } : {}),
      });
      if (result.members?.includes(user)) return true;
      cursor = result.response_metadata?.next_cursor || undefined;
      if (!cursor) return false;
    }
    return false;
  } catch {
    return false;
  }
}
