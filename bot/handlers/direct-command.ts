import type { webApi } from "@slack/bolt";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { describeError } from "../../core/errors.ts";
import { identityKey } from "../../core/identity/identity.ts";
import { callerMeta } from "../../core/actions/meta.ts";
import { pendingActionOf } from "../agent/run-agent-turn.ts";
import { toolTextForPeople, wrapToolResult } from "../../core/untrusted/fence.ts";
import { redactText } from "../../core/untrusted/redact.ts";
import { describeCallTarget } from "../agent/mcp-tools.ts";
import { answerMessages } from "../blocks/answer.ts";
import type { ServedCluster } from "../clusters.ts";
import type { BotServices } from "../deps.ts";
import { failureCause } from "../failure-text.ts";
import { sanitizeForSlack } from "../sanitize.ts";
import { postStatusMessage, type StatusMessage } from "../status-message.ts";
import { postApprovalCard, reportError, type Question } from "./thread-replies.ts";

/**
 * A direct command (`/deputy restart deployment/checkout -n shop`): the same
 * MCP tool the agent would call, with the same identity in `_meta`, so a
 * write becomes a pending action and a card like any other.
 */
export async function runDirectCommand(
  services: BotServices,
  client: webApi.WebClient,
  command: Question & { cluster: ServedCluster; tool: string; arguments: Record<string, unknown> },
): Promise<void> {
  const { conversation, cluster } = command;
  // With several clusters served, the status line and the result name the one it ran in.
  const where = services.clusters.all.length > 1 ? ` in cluster ${cluster.name}` : "";
  const target = describeCallTarget(command.arguments);
  let status: StatusMessage | undefined;
  try {
    status = await postStatusMessage({
      client,
      channel: conversation.channel,
      threadTs: conversation.thread,
      headline: `Running ${command.tool}${target ? ` on ${target}` : ""}${where}…`,
      minIntervalMs: services.statusIntervalMs,
      logger: services.logger,
    });
    const result = (await cluster.mcp.callTool(
      {
        name: command.tool,
        arguments: command.arguments,
        _meta: callerMeta({
          requester: command.requester,
          conversation,
          prompt: command.text,
          reason: `Asked for directly: ${command.text}`,
        }),
      },
      undefined,
      { timeout: 60_000 },
    )) as CallToolResult;
    const pending = pendingActionOf(result);
    if (pending) await postApprovalCard(services, client, conversation, pending, cluster.name);
    const raw = result.content.map((item) => (item.type === "text" ? item.text : "")).join("\n");
    const body = `${where ? `_Cluster ${cluster.name}_\n` : ""}${sanitizeForSlack(toolTextForPeople(raw))}`;
    const text = result.isError
      ? `:warning: ${body}`
      : pending
        ? `${body}\nAn approver has to approve the card above before anything changes.`
        : body;
    const [first, ...rest] = answerMessages(text);
    await status.flush();
    await client.chat.update({
      channel: conversation.channel,
      ts: status.ts!,
      text: text.slice(0, 3000),
      blocks: first!,
    });
    for (const blocks of rest) {
      await client.chat.postMessage({
        channel: conversation.channel,
        thread_ts: conversation.thread,
        text: "(continued)",
        blocks,
      });
    }
    // Follow-up questions in this thread see what the command returned. The result is
    // already shown, so a store failure here is logged rather than replacing it.
    await services.conversations
      .appendTurn(
        conversation,
        [
          {
            role: "user",
            content: [
              {
                type: "text",
                text: `I ran the direct command "${command.text}"${where}. Its result:\n${wrapToolResult(command.tool, redactText(raw.slice(0, 20_000)), { isError: result.isError === true })}`,
              },
            ],
          },
          {
            role: "assistant",
            content: [{ type: "text", text: "Noted; the result was shown in the thread." }],
          },
        ],
        { typed: command.text, participant: identityKey(command.requester) },
      )
      .catch((error: unknown) =>
        services.logger.warn(
          { err: describeError(error) },
          "could not store the command in the thread history",
        ),
      );
  } catch (error) {
    services.logger.error({ tool: command.tool, err: describeError(error) }, "direct command failed");
    await reportError(client, conversation, status, `${command.tool} failed: ${failureCause(error)}.`).catch(
      (reportFailure: unknown) =>
        services.logger.error({ err: describeError(reportFailure) }, "could not report the failure"),
    );
  }
}
