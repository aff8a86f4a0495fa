import type { webApi } from "@slack/bolt";
import { describeError } from "../../core/errors.ts";
import { identityKey } from "../../core/identity/identity.ts";
import type { AgentProgress, AgentTurnResult } from "../agent/types.ts";
import { answerMessages } from "../blocks/answer.ts";
import type { BotServices } from "../deps.ts";
import { DIRECT_COMMAND_USAGE, parseDirectCommand } from "../direct-commands.ts";
import { questionFailed } from "../failure-text.ts";
import { sanitizeForSlack, sanitizePlain } from "../sanitize.ts";
import { postStatusMessage, type StatusMessage } from "../status-message.ts";
import { runDirectCommand } from "./direct-command.ts";
import { uploadLogFile } from "./log-file.ts";
import { clusterOfThread } from "./thread-cluster.ts";
import type { ServedCluster } from "../clusters.ts";
import type { TurnLease } from "../turn-lease.ts";
import { postApprovalCard, reportError, type Question } from "./thread-replies.ts";
import { diagnosesOfTroubleshoot } from "../../core/memory/diagnosis.ts";
import { recallBlocks } from "../blocks/memory.ts";
import {
  memoryNoteForAgent,
  noteInThread,
  recallForDiagnoses,
  type FoundFix,
} from "../memory/incident-memory.ts";
import { showHistory } from "./history.ts";
import { postTimeline } from "./timeline.ts";

export type { Question };

/** With several clusters served, every answer names the one it is about. */
function footer(result: AgentTurnResult, cluster: string | undefined): string {
  const seconds = (result.durationMs / 1000).toFixed(1);
  const tools = result.toolCalls.length === 1 ? "1 tool call" : `${result.toolCalls.length} tool calls`;
  return `${cluster ? `cluster ${cluster} · ` : ""}${tools} · ${seconds} s`;
}

/**
 * A question in a thread: a direct command if it parses as one, otherwise one
 * agent turn with progress in a status message that the answer replaces.
 * Always ends with something in the thread, never silence.
 */
export async function answerQuestion(
  services: BotServices,
  client: webApi.WebClient,
  question: Question,
): Promise<void> {
  const { conversation } = question;
  const log = services.logger.child({ conversation, requester: question.requester });
  try {
    await routeQuestion(services, client, question, log);
  } catch (error) {
    // Anything before the turn proper (parsing, Slack, the thread lock) ends in a sentence too.
    log.error({ err: describeError(error) }, "question failed before it started");
    await reportError(client, conversation, undefined, questionFailed(error)).catch(
      (reportFailure: unknown) =>
        log.error({ err: describeError(reportFailure) }, "could not report the failure"),
    );
  }
}

async function routeQuestion(
  services: BotServices,
  client: webApi.WebClient,
  asked: Question,
  log: BotServices["logger"],
): Promise<void> {
  let question = asked;
  const { conversation } = question;
  // Before any parse, tool call or model turn: is this person allowed to ask here?
  const refusal = await services.access.refusal(question.requester, conversation);
  if (refusal) {
    log.info("request refused by the access rules");
    await reportError(client, conversation, undefined, refusal);
    return;
  }

  // Which cluster this works on, before any parse: the naming of it is not part of the command.
  const bound = await clusterOfThread(
    services,
    conversation,
    question.text,
    question.fromDeputy ? { ...(question.aboutCluster ? { about: question.aboutCluster } : {}) } : undefined,
  );
  if ("refusal" in bound) {
    log.info("no cluster for this request");
    await reportError(client, conversation, undefined, bound.refusal);
    return;
  }
  const { cluster } = bound;
  if (!question.fromDeputy && question.text.trim() !== "") {
    await noteInThread(services, conversation, {
      kind: "question",
      by: question.requester,
      text: bound.text,
    });
  }
  if (bound.text === "" && question.text.trim() !== "") {
    // Only a cluster was named ("in prod-eu"): the thread is bound there, and there is nothing to run.
    await client.chat.postMessage({
      channel: conversation.channel,
      thread_ts: conversation.thread,
      text: `This thread works on cluster ${cluster.name} now; ask away.`,
    });
    return;
  }
  question = { ...question, text: bound.text };

  let parsed: ReturnType<typeof parseDirectCommand> | undefined;
  try {
    parsed = question.fromDeputy ? undefined : parseDirectCommand(question.text);
  } catch (error) {
    // In free text a failed parse is just a sentence for the model; for /deputy it is a usage error.
    if (question.strictCommands || !services.agent) {
      await reportError(client, conversation, undefined, describeError(error));
      return;
    }
  }
  if (parsed?.kind === "help") {
    await client.chat.postMessage({
      channel: conversation.channel,
      thread_ts: conversation.thread,
      text: parsed.text,
    });
    return;
  }
  if (parsed?.kind === "log_file") {
    await uploadLogFile(services, client, {
      requester: question.requester,
      conversation,
      cluster,
      ...parsed.arguments,
    });
    return;
  }
  if (parsed?.kind === "history") {
    await showHistory(services, client, { conversation, cluster: cluster.name, ...parsed.arguments });
    return;
  }
  if (parsed?.kind === "timeline") {
    if (question.strictCommands && !parsed.thread) {
      // A slash command starts a thread of its own: the incident's thread must be named.
      await client.chat.postMessage({
        channel: conversation.channel,
        thread_ts: conversation.thread,
        text: "Which thread? Mention me in it (`@Deputy timeline`), or give its link: `/deputy timeline <link>`.",
      });
      return;
    }
    await postTimeline(services, client, {
      requester: question.requester,
      conversation,
      thread: parsed.thread ?? { channel: conversation.channel, ts: conversation.thread },
    });
    return;
  }
  if (parsed?.kind === "tool") {
    await runDirectCommand(services, client, {
      ...question,
      cluster,
      tool: parsed.tool,
      arguments: parsed.arguments,
    });
    return;
  }
  if (!services.agent) {
    await client.chat.postMessage({
      channel: conversation.channel,
      thread_ts: conversation.thread,
      text: `The AI agent is not configured here (no Anthropic API key), so I can only run direct commands.\n${DIRECT_COMMAND_USAGE}`,
    });
    return;
  }
  await runAgentTurn(services, client, { ...question, cluster }, services.agent, log);
}

/** What another replica needs to finish a turn whose replica stopped (kept with the turn's lease). */
export function encodeTurn(question: Question, cluster: string, statusTs?: string): string {
  const { requester, conversation, text, fromDeputy, aboutCluster } = question;
  return JSON.stringify({
    question: { requester, conversation, text, fromDeputy, aboutCluster },
    cluster,
    ...(statusTs ? { statusTs } : {}),
  });
}

/**
 * One agent turn, holding the thread's lease (taken here, or handed over by
 * the replica that adopted a stopped replica's turn). The lease is renewed
 * while the turn runs; a turn whose lease was taken over does not post its
 * answer, the adopter does.
 */
export async function runAgentTurn(
  services: BotServices,
  client: webApi.WebClient,
  question: Question & { cluster: ServedCluster },
  agent: NonNullable<BotServices["agent"]>,
  log: BotServices["logger"],
  adopted?: TurnLease,
): Promise<void> {
  const { conversation, cluster } = question;
  const named = services.clusters.all.length > 1 ? cluster.name : undefined;
  // Throws when the store is down: the caller turns that into a sentence in the thread.
  const lease = adopted ?? (await services.turns.lock(conversation, encodeTurn(question, cluster.name)));
  if (!lease) {
    await client.chat.postMessage({
      channel: conversation.channel,
      thread_ts: conversation.thread,
      text: "I'm still working on the previous message in this thread. Ask again when it's answered.",
    });
    return;
  }
  let lost = false;
  const renewer = setInterval(() => {
    lease.renew().then(
      (held) => {
        if (!held) lost = true;
      },
      // Redis unreachable: keep going; whether the answer is still ours is asked before posting it.
      () => undefined,
    );
  }, services.turns.ttlMs / 3);
  renewer.unref();
  /** False when another replica adopted this turn (this one was stalled past the lease). */
  const stillOurs = async (): Promise<boolean> => {
    // Unknown (Redis down) counts as ours: an answer is better than silence.
    const held = lost ? false : await lease.held().catch(() => true);
    if (!held) log.warn("another replica took this turn over; its answer is theirs to post");
    return held;
  };
  let status: StatusMessage | undefined;
  try {
    // A person's hourly turns and tokens on this cluster (DEPUTY_AGENT_TURNS_PER_HOUR, …).
    const admission = await services.agentLimit?.admit(question.requester, cluster.name);
    if (admission && !admission.allowed) {
      log.info({ limit: admission.limit }, "agent turn refused by the hourly limit");
      services.audit?.record({
        kind: "policy_decision",
        decision: "refused",
        rule: `agent-${admission.limit}-per-hour`,
        message: admission.message,
        actor: question.requester,
        conversation,
        cluster: cluster.name,
      });
      await reportError(client, conversation, undefined, admission.message);
      return;
    }
    status = await postStatusMessage({
      client,
      channel: conversation.channel,
      threadTs: conversation.thread,
      headline: named ? `Looking into it in cluster ${named}…` : "Looking into it…",
      minIntervalMs: services.statusIntervalMs,
      logger: log,
    });
    // An adopter edits this status message instead of leaving it "Looking into it…" for ever.
    if (status.ts)
      await lease
        .remember(encodeTurn(question, cluster.name, status.ts))
        .catch((error: unknown) =>
          log.warn({ err: describeError(error) }, "could not note the status message"),
        );
    const [record, notes] = await Promise.all([
      services.conversations.load(conversation),
      services.conversations.takeNotes(conversation),
    ]);
    const cardFailures: string[] = [];
    const onProgress = async (event: AgentProgress): Promise<void> => {
      if (event.type === "retrying")
        status?.note(
          `The model service is ${event.reason}; retrying in ${Math.max(1, Math.round(event.delayMs / 1000))} s (attempt ${event.attempt + 1})…`,
        );
      if (event.type === "tool_start") {
        status?.note(undefined);
        status?.step({ tool: event.tool, target: event.target, state: "running" });
      }
      if (event.type === "tool_end" && !event.pendingAction) {
        // For the timeline, off the tool call's path: the investigation does not wait for it.
        const step = { tool: event.tool, target: event.target, at: new Date().toISOString() };
        services.tasks.run("note_step", () =>
          noteInThread(services, conversation, {
            kind: "step",
            at: step.at,
            tool: step.tool,
            ...(step.target ? { target: step.target.slice(0, 253).replace(/[^A-Za-z0-9._:/@-]/g, "_") } : {}),
          }),
        );
      }
      if (event.type === "tool_end") {
        status?.step({
          tool: event.tool,
          target: event.target,
          state: event.pendingAction ? "pending_approval" : event.isError ? "error" : "done",
        });
      }
      if (event.type === "pending_action") {
        try {
          await postApprovalCard(services, client, conversation, event.action, cluster.name);
        } catch (error) {
          cardFailures.push(
            `I could not post the approval card for ${event.action.id}: ${describeError(error)}`,
          );
        }
      }
    };
    // A diagnosis that matches a remembered fix: the model hears it as Deputy's note, the answer shows it.
    let recalled: FoundFix | undefined;
    const annotate = async (call: {
      tool: string;
      isError: boolean;
      structured: Record<string, unknown> | undefined;
    }): Promise<string | undefined> => {
      if (call.tool !== "troubleshoot_pod" || call.isError) return undefined;
      const found = await recallForDiagnoses(
        services,
        conversation,
        cluster.name,
        diagnosesOfTroubleshoot(call.structured),
      );
      if (!found) return undefined;
      recalled ??= found;
      return memoryNoteForAgent(found);
    };
    const result = await agent.run({
      annotate,
      prompt: question.text,
      history: record.messages,
      notes: [
        ...(named ? [`This thread works on cluster ${named}: your tools read and propose there only.`] : []),
        ...notes,
      ],
      requester: question.requester,
      conversation,
      mcp: cluster.mcp,
      onProgress,
    });
    // Before anything of the turn is kept or posted: an adopted turn's history and answer are the adopter's.
    if (!(await stillOurs())) return;
    const { inputTokens, outputTokens, cacheReadTokens, cacheCreationTokens } = result.usage;
    await services.agentLimit
      ?.charge(
        question.requester,
        cluster.name,
        inputTokens + outputTokens + cacheReadTokens + cacheCreationTokens,
      )
      .catch((error: unknown) =>
        log.warn({ err: describeError(error) }, "could not count the turn's tokens"),
      );
    await services.conversations.appendTurn(conversation, result.messages, {
      typed: question.fromDeputy ? undefined : question.text,
      participant: identityKey(question.requester),
    });

    const answer = [
      sanitizeForSlack(result.text, {
        userText: question.fromDeputy ? record.userText : [...record.userText, question.text],
      }),
      ...cardFailures.map(sanitizePlain),
    ]
      .filter(Boolean)
      .join("\n\n");
    const messages = answerMessages(answer, footer(result, named));
    const found = recalled as FoundFix | undefined;
    if (found) messages.at(-1)!.push(...recallBlocks(found.recall, found.diagnosed.workload.kind));
    const [first, ...rest] = messages;
    await status.flush();
    const fallback = answer.slice(0, 3000);
    if (status.ts) {
      await client.chat.update({
        channel: conversation.channel,
        ts: status.ts,
        text: fallback,
        blocks: first!,
      });
    } else {
      await client.chat.postMessage({
        channel: conversation.channel,
        thread_ts: conversation.thread,
        text: fallback,
        blocks: first!,
        unfurl_links: false,
      });
    }
    for (const blocks of rest) {
      await client.chat.postMessage({
        channel: conversation.channel,
        thread_ts: conversation.thread,
        text: fallback.slice(0, 200),
        blocks,
        unfurl_links: false,
      });
    }
    await noteInThread(services, conversation, { kind: "answer", steps: result.toolCalls.length });
  } catch (error) {
    log.error({ err: describeError(error) }, "question failed");
    if (!(await stillOurs())) return;
    await reportError(client, conversation, status, questionFailed(error)).catch((reportFailure: unknown) =>
      log.error({ err: describeError(reportFailure) }, "could not report the failure"),
    );
  } finally {
    clearInterval(renewer);
    // The lease lapses by itself; a failed release must not hide the answer or the report.
    await lease
      .release()
      .catch((error: unknown) =>
        log.warn({ err: describeError(error) }, "could not release the thread lock"),
      );
  }
}
