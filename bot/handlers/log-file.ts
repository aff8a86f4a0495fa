import type { webApi } from "@slack/bolt";
import { podLogUri } from "../../mcp/resources/pod-log.ts";
import { describeError } from "../../core/errors.ts";
import type { ConversationRef, Identity } from "../../core/identity/identity.ts";
import { callerMeta } from "../../core/actions/meta.ts";
import type { ServedCluster } from "../clusters.ts";
import type { BotServices } from "../deps.ts";
import { redactSecrets, sanitizePlain } from "../sanitize.ts";

export interface LogFileRequest {
  requester: Identity;
  conversation: ConversationRef;
  /** The thread's cluster: the log is read through its MCP server. */
  cluster: ServedCluster;
  namespace: string;
  pod: string;
  container?: string;
  previous: boolean;
}

/**
 * `/deputy logs shop/checkout-7d9f --full`: the container's log, read through
 * the MCP server (read identity, namespace policy, bounded, redacted,
 * audited) and uploaded into the thread as a file with files.uploadV2, so a
 * long log is read whole without flooding the thread or the model's context.
 */
export async function uploadLogFile(
  services: BotServices,
  client: webApi.WebClient,
  request: LogFileRequest,
): Promise<void> {
  const { conversation } = request;
  const say = (text: string): Promise<unknown> =>
    client.chat.postMessage({ channel: conversation.channel, thread_ts: conversation.thread, text });
  try {
    // The container must be named in the address; the server picks the only one when there is one.
    let container = request.container;
    if (!container) {
      const described = await request.cluster.mcp.callTool({
        name: "describe_pod",
        arguments: { namespace: request.namespace, pod: request.pod },
        _meta: callerMeta({ requester: request.requester, conversation }),
      });
      const names = (described.structuredContent as { containers?: unknown } | undefined)?.containers;
      if (described.isError || !Array.isArray(names) || names.length === 0) {
        const why = (described.content as { type: string; text?: string }[])
          .map((c) => c.text ?? "")
          .join(" ");
        await say(
          sanitizePlain(`I could not read pod ${request.namespace}/${request.pod}: ${why}`.slice(0, 2000)),
        );
        return;
      }
      if (names.length > 1) {
        await say(
          sanitizePlain(
            `Pod ${request.namespace}/${request.pod} has ${names.length} containers (${names.join(", ")}); name one with -c.`,
          ),
        );
        return;
      }
      container = String(names[0]);
    }
    const uri = podLogUri({
      namespace: request.namespace,
      pod: request.pod,
      container,
      previous: request.previous,
    });
    const read = await request.cluster.mcp.readResource({
      uri,
      _meta: callerMeta({ requester: request.requester, conversation }),
    });
    const first = read.contents[0];
    const text = first && "text" in first && typeof first.text === "string" ? first.text : "";
    // The server redacts; this is the bot's own last check before bytes leave for Slack.
    const content = redactSecrets(text);
    const cluster = services.clusters.all.length > 1 ? request.cluster.name : undefined;
    const name = `${cluster ? `${cluster}_` : ""}${request.namespace}_${request.pod}_${container}${request.previous ? "_previous" : ""}.log`;
    await client.filesUploadV2({
      channel_id: conversation.channel,
      thread_ts: conversation.thread,
      filename: name,
      title: `${request.namespace}/${request.pod} ${container}${request.previous ? " (previous run)" : ""}${cluster ? ` (cluster ${cluster})` : ""}`,
      content: content.length > 0 ? content : "(the log is empty)\n",
      initial_comment: sanitizePlain(
        `Log of ${request.namespace}/${request.pod}, container ${container}${request.previous ? " (previous run)" : ""}: ${content.split("\n", 1)[0]?.replace(/^# Deputy: /, "") ?? ""}`,
      ),
    });
  } catch (error) {
    services.logger.warn({ err: describeError(error), pod: request.pod }, "log file upload failed");
    await say(sanitizePlain(`I could not upload the log: ${describeError(error)}`)).catch(() => undefined);
  }
}
