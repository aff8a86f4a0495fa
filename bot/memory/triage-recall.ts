import type { webApi } from "@slack/bolt";
import type { TriageMessage } from "../../core/observability/alerts.ts";
import { causesOf } from "../../core/memory/diagnosis.ts";
import { recallBlocks, recallLine } from "../blocks/memory.ts";
import type { ServedClusters } from "../clusters.ts";
import { sanitizePlain } from "../sanitize.ts";
import { noteInThread, recallForDiagnoses, type MemoryServices } from "./incident-memory.ts";

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const KIND = /^[A-Z][A-Za-z]*$/;

/**
 * A triage finding just posted: its thread's record starts with it, and a
 * remembered fix for the cause it names (its findings' rules and facts, never
 * its text) is posted under it with the button that proposes it again.
 */
export function triageRecall(
  services: MemoryServices & { clusters: Pick<ServedClusters, "get" | "defaultFor"> },
  client: webApi.WebClient,
): (message: TriageMessage, where: { channel: string; ts: string }) => Promise<void> {
  return async (message, where) => {
    const conversation = { surface: "slack" as const, channel: where.channel, thread: where.ts };
    await noteInThread(services, conversation, { kind: "alert", name: `triage-${message.reason}` });
    const { kind, namespace, name } = message.object;
    if (!namespace || !NAME.test(namespace) || !NAME.test(name) || !KIND.test(kind)) return;
    const cluster = message.cluster
      ? services.clusters.get(message.cluster)
      : services.clusters.defaultFor(where.channel);
    if (!cluster) return;
    const causes = causesOf(message.payload?.findings);
    if (causes.length === 0) return;
    const found = await recallForDiagnoses(services, conversation, cluster.name, [
      {
        namespace,
        workload: { kind, name },
        ...(message.object.pod && NAME.test(message.object.pod) ? { pod: message.object.pod } : {}),
        causes,
      },
    ]);
    if (!found) return;
    await client.chat.postMessage({
      channel: where.channel,
      thread_ts: where.ts,
      text: sanitizePlain(recallLine(found.recall)).slice(0, 2900),
      blocks: recallBlocks(found.recall, found.diagnosed.workload.kind),
      unfurl_links: false,
      unfurl_media: false,
    });
  };
}
