import type { webApi } from "@slack/bolt";
import { describeError } from "../../core/errors.ts";
import type { ConversationRef } from "../../core/identity/identity.ts";
import { historyText } from "../blocks/memory.ts";
import { namespaceInScope, type MemoryServices } from "../memory/incident-memory.ts";
import { sanitizePlain } from "../sanitize.ts";

/**
 * `/deputy history <namespace>/<workload>`: the fixes Deputy remembers for a
 * workload in the thread's cluster, with their verified results. Only inside
 * the conversation's namespace scope, like a question there.
 */
export async function showHistory(
  services: MemoryServices,
  client: webApi.WebClient,
  request: { conversation: ConversationRef; cluster: string; namespace: string; workload: string },
): Promise<void> {
  const { conversation } = request;
  const say = (text: string): Promise<unknown> =>
    client.chat.postMessage({
      channel: conversation.channel,
      thread_ts: conversation.thread,
      text,
      unfurl_links: false,
      unfurl_media: false,
    });
  if (!services.memory) {
    await say("Deputy's memory of fixes is turned off here (DEPUTY_MEMORY_RETENTION_DAYS=0).");
    return;
  }
  if (!namespaceInScope(services, conversation, request.namespace)) {
    await say(
      sanitizePlain(
        `Namespace ${request.namespace} is outside what this conversation may see (DEPUTY_CHANNEL_NAMESPACES), so I show no history for it.`,
      ),
    );
    return;
  }
  try {
    const fixes = await services.memory.fixes.history(request.cluster, request.namespace, request.workload);
    const days = Math.round(services.memory.fixes.retentionSeconds / 86400);
    await say(historyText(request.namespace, request.workload, fixes, days));
  } catch (error) {
    services.logger.warn({ err: describeError(error) }, "history failed");
    await say(sanitizePlain(`I could not read the remembered fixes: ${describeError(error)}`));
  }
}
