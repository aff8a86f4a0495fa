import { randomBytes } from "node:crypto";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { DeputyError, describeError } from "../core/errors.ts";
import type { ConversationRef, Identity } from "../core/identity/identity.ts";
import type { Logger } from "../core/observability/logger.ts";
import type { Decision, DecisionResult, PendingAction, PendingActionRef } from "../core/actions/schema.ts";
import { redactText } from "../core/untrusted/redact.ts";
import { inSpan, SpanKind } from "../core/observability/tracing.ts";
import type { CallerContext } from "../mcp/tool.ts";
import type { DirectCommand } from "../bot/direct-commands.ts";
import { pendingActionOf } from "../bot/agent/run-agent-turn.ts";
import { describeTarget } from "../core/actions/action-type.ts";
import { clusterNamedIn, unknownClusterHelp } from "../core/config/cluster-choice.ts";
import { approvalCardView } from "./card.ts";
import type { ConsoleEventBody, EventHub } from "./events.ts";

/**
 * The console's conversations: what happens when a local user posts a message
 * or clicks a card button. Everything goes through the same MCP tools (with the
 * caller in `_meta`), the same agent loop and the same approval executor as
 * the Slack app; this module only turns their results into thread events.
 */

export interface AgentTurnInput {
  prompt: string;
  /** This thread's earlier agent messages, as the agent returned them. */
  history: readonly unknown[];
  /** Trusted facts since the last turn (decisions, direct commands), never cluster text. */
  notes: readonly string[];
  requester: Identity;
  conversation: ConversationRef;
  /** The cluster this conversation is bound to: the agent reads through its MCP server only. */
  cluster: string;
  signal: AbortSignal;
  /** Tool calls, progress and cards as they happen. */
  emit: (body: ConsoleEventBody) => void;
}

export interface AgentTurnOutput {
  text: string;
  /** Messages to append to the thread's history. */
  messages: readonly unknown[];
}

export interface ConsoleSessionDeps {
  hub: EventHub;
  logger: Logger;
  /** Who may approve (shown on cards); the executor is what enforces it. */
  approvers: readonly string[];
  /** Calls one MCP tool of `cluster`'s MCP server, with the caller in `_meta`. */
  callTool: (
    name: string,
    args: Record<string, unknown>,
    caller: CallerContext,
    cluster: string,
  ) => Promise<CallToolResult>;
  /**
   * The clusters served, when several: each conversation is bound to one (the
   * default first, or the one a message names). Unset: one cluster, and a
   * message is never read for a cluster name.
   */
  clusters?: { names: readonly string[]; defaultCluster: string } | undefined;
  /** The `/deputy` parser shared with Slack; throws a DeputyError for a malformed command. */
  parseDirectCommand: (text: string) => DirectCommand;
  /** Present only when a model is configured. */
  runAgentTurn: ((input: AgentTurnInput) => Promise<AgentTurnOutput>) | undefined;
  decide: (input: {
    actionId: string;
    approver: Identity;
    decision: Decision;
    digest?: string | undefined;
  }) => Promise<DecisionResult>;
  /** The stored, verified action a card is rendered from. */
  loadAction: (actionId: string) => Promise<PendingAction | undefined>;
  /** One line per audit event of the action, oldest first. */
  auditStory: (actionId: string) => Promise<AuditStoryView>;
  /** Shown when no model is configured. */
  directCommandHelp: readonly string[];
  /**
   * "resume writes": lift the anomaly write pause (with several clusters, each
   * served cluster's). The implementation checks the user is an approver; the
   * answer is a plain sentence either way.
   */
  resumeWrites?: (user: Identity) => Promise<string>;
}

export interface AuditStoryView {
  actionId: string;
  lines: string[];
}

export interface ConsoleSession {
  startThread(user: Identity, text: string): { threadId: string; done: Promise<void> };
  postMessage(threadId: string, user: Identity, text: string): { done: Promise<void> };
  decide(actionId: string, user: Identity, decision: Decision, digest?: string): Promise<DecisionResult>;
  auditStory(actionId: string): Promise<AuditStoryView>;
  /** An action changed outside a click (expiry): update its card. */
  actionChanged(action: PendingAction): void;
  /** Proactive triage from the watcher lands here. */
  postTriage(title: string, text: string, object?: string): void;
  /** Anomaly alerts land here. */
  postAlert(title: string, text: string): void;
  hasThread(threadId: string): boolean;
  /** Waits for running turns (used on shutdown). */
  drain(): Promise<void>;
  close(): void;
}

export const MAX_MESSAGE_CHARS = 4000;
const MAX_HISTORY_MESSAGES = 60;
const MAX_NOTES = 20;
export const TRIAGE_THREAD_ID = "triage";
export const ALERTS_THREAD_ID = "alerts";
const FEED_TITLES: Record<string, string> = {
  [TRIAGE_THREAD_ID]: "Proactive triage",
  [ALERTS_THREAD_ID]: "Anomaly alerts",
};

interface ThreadState {
  id: string;
  /** The cluster the conversation is bound to ("" with one cluster). */
  cluster: string;
  history: unknown[];
  notes: string[];
  /** Messages run one at a time per thread, in order. */
  queue: Promise<void>;
}

export function newThreadId(): string {
  return `th_${randomBytes(12).toString("base64url")}`;
}

function textOf(result: CallToolResult): string {
  return result.content
    .map((block) => (block.type === "text" ? block.text : `[${block.type}]`))
    .join("\n")
    .trim();
}

function validateText(text: unknown): string {
  if (typeof text !== "string" || text.trim().length === 0) {
    throw new DeputyError("INPUT_INVALID", "the message is empty");
  }
  if (text.length > MAX_MESSAGE_CHARS) {
    throw new DeputyError(
      "INPUT_INVALID",
      `the message is ${text.length} characters; the limit is ${MAX_MESSAGE_CHARS}`,
    );
  }
  return text.trim();
}

function newThread(id: string, cluster: string): ThreadState {
  return { id, cluster, history: [], notes: [], queue: Promise.resolve() };
}

/** Console users may type the Slack form too: "/deputy restart …". */
function stripSlashCommand(text: string): string {
  return text.replace(/^\/deputy(\s+|$)/i, "");
}

export function createConsoleSession(deps: ConsoleSessionDeps): ConsoleSession {
  const threads = new Map<string, ThreadState>();
  const abort = new AbortController();
  const running = new Set<Promise<void>>();
  /** Which thread each action's card lives in, so decisions post back there. */
  const actionThreads = new Map<string, string>();

  const several = deps.clusters !== undefined && deps.clusters.names.length > 1;
  const defaultCluster = deps.clusters?.defaultCluster ?? "";
  /** With several clusters, Deputy's answers and results say which one they are about. */
  const inCluster = (thread: ThreadState, text: string): string =>
    several ? `[cluster ${thread.cluster}] ${text}` : text;

  const conversationOf = (threadId: string): ConversationRef => ({
    surface: "console",
    channel: "console",
    thread: threadId,
  });

  // Everything the console shows in a thread passes the shared redactor: answers, tool output, errors.
  function say(threadId: string, role: "deputy" | "system", text: string): void {
    deps.hub.publish(threadId, { type: "message", role, author: undefined, text: redactText(text) });
  }

  function publishCard(threadId: string, action: PendingAction): void {
    actionThreads.set(action.id, threadId);
    deps.hub.publish(threadId, { type: "card", card: approvalCardView(action, deps.approvers) });
  }

  /** A card from the stored action a tool result names (never from the tool result itself). */
  async function publishStoredCard(threadId: string, ref: PendingActionRef): Promise<void> {
    const action = await deps.loadAction(ref.id).catch(() => undefined);
    if (!action || action.digest !== ref.digest) {
      say(
        threadId,
        "system",
        `The approval card for ${ref.id} could not be shown: the stored action is missing or failed its integrity check. It cannot be approved.`,
      );
      return;
    }
    publishCard(threadId, action);
  }

  /** The triage and alert feeds: read-only threads created on first use. */
  function feed(id: string): { publish: (body: ConsoleEventBody) => void } {
    if (!threads.has(id)) {
      threads.set(id, newThread(id, defaultCluster));
      deps.hub.publish(id, {
        type: "thread",
        title: FEED_TITLES[id] ?? id,
        startedBy: undefined,
        kind: "triage",
      });
    }
    return { publish: (body) => void deps.hub.publish(id, body) };
  }

  function note(thread: ThreadState, text: string): void {
    thread.notes.push(text);
    if (thread.notes.length > MAX_NOTES) thread.notes.splice(0, thread.notes.length - MAX_NOTES);
  }

  async function runDirectCommand(
    thread: ThreadState,
    command: Extract<DirectCommand, { kind: "tool" }>,
    user: Identity,
    text: string,
  ): Promise<void> {
    const callId = `call_${randomBytes(6).toString("hex")}`;
    const base = { type: "tool_call" as const, callId, tool: command.tool, arguments: command.arguments };
    deps.hub.publish(thread.id, { ...base, status: "running" });
    const started = Date.now();
    const result = await deps.callTool(
      command.tool,
      command.arguments,
      {
        requester: user,
        conversation: conversationOf(thread.id),
        prompt: text,
        reason: `direct command from ${user.name ?? user.id}: ${text}`,
      },
      thread.cluster,
    );
    const durationMs = Date.now() - started;
    deps.hub.publish(thread.id, { ...base, status: result.isError ? "error" : "ok", durationMs });
    say(thread.id, result.isError ? "system" : "deputy", inCluster(thread, textOf(result) || "(no output)"));
    const pending = pendingActionOf(result);
    if (pending) await publishStoredCard(thread.id, pending);
    // Only Deputy's own words go into notes: tool output is cluster text.
    note(
      thread,
      `${user.name ?? user.id} ran the direct command "${command.text.slice(0, 200)}" (tool ${command.tool})` +
        (pending
          ? `, which created pending action ${pending.id}.`
          : result.isError
            ? ", which failed."
            : "."),
    );
  }

  async function runAgent(thread: ThreadState, user: Identity, prompt: string): Promise<void> {
    const agent = deps.runAgentTurn;
    if (!agent) {
      say(
        thread.id,
        "system",
        [
          "No model is configured (ANTHROPIC_API_KEY is not set), so Deputy cannot answer free-form questions here.",
          "Direct commands work without a model, through the same tools and approvals:",
          ...deps.directCommandHelp.map((line) => `  ${line}`),
        ].join("\n"),
      );
      return;
    }
    const notes = [
      ...(several
        ? [`This conversation works on cluster ${thread.cluster}: your tools read and propose there only.`]
        : []),
      ...thread.notes.splice(0),
    ];
    const result = await agent({
      prompt,
      history: thread.history.slice(),
      notes,
      requester: user,
      conversation: conversationOf(thread.id),
      cluster: thread.cluster,
      signal: abort.signal,
      emit: (body) => {
        if (body.type === "card") actionThreads.set(body.card.actionId, thread.id);
        deps.hub.publish(thread.id, body);
      },
    });
    say(thread.id, "deputy", inCluster(thread, result.text || "(no answer)"));
    thread.history.push(...result.messages);
    if (thread.history.length > MAX_HISTORY_MESSAGES) {
      // Drop whole exchanges from the front so the history still starts with a user message.
      let cut = thread.history.length - MAX_HISTORY_MESSAGES;
      while (cut < thread.history.length && (thread.history[cut] as { role?: string }).role !== "user") cut++;
      thread.history.splice(0, cut);
    }
  }

  /**
   * The cluster a message names, with several served: it re-binds the
   * conversation. The text without the naming, or undefined when nothing is
   * left to run (a name only, or one that is not served).
   */
  function chooseCluster(thread: ThreadState, text: string): string | undefined {
    if (!several || !deps.clusters) return text;
    const names = deps.clusters.names;
    const choice = clusterNamedIn(text, names);
    if (choice.kind === "unknown") {
      say(thread.id, "system", unknownClusterHelp(names, choice.name));
      return undefined;
    }
    if (choice.kind === "none") return text;
    if (choice.cluster !== thread.cluster) {
      note(
        thread,
        `The conversation moved from cluster ${thread.cluster} to cluster ${choice.cluster}; earlier answers were about ${thread.cluster}.`,
      );
      thread.cluster = choice.cluster;
    }
    if (choice.text.length === 0) {
      say(thread.id, "system", `This conversation is on cluster ${thread.cluster}.`);
      return undefined;
    }
    return choice.text;
  }

  async function handle(thread: ThreadState, user: Identity, message: string): Promise<void> {
    deps.hub.publish(thread.id, { type: "busy", busy: true });
    try {
      const text = chooseCluster(thread, message);
      if (text === undefined) return;
      if (/^resume writes$/i.test(stripSlashCommand(text)) && deps.resumeWrites) {
        say(thread.id, "system", await deps.resumeWrites(user));
        return;
      }
      let command: DirectCommand;
      try {
        command = deps.parseDirectCommand(stripSlashCommand(text));
      } catch (error) {
        say(thread.id, "system", describeError(error).replaceAll("/deputy ", ""));
        return;
      }
      if (command.kind === "help")
        say(thread.id, "system", command.text.replaceAll("/deputy ", "").replace(/[*`]/g, ""));
      else if (command.kind === "tool") await runDirectCommand(thread, command, user, text);
      else if (command.kind === "log_file")
        say(
          thread.id,
          "system",
          "--full uploads a log file into a Slack thread; here, use logs with --tail.",
        );
      else if (command.kind === "history" || command.kind === "timeline")
        say(
          thread.id,
          "system",
          "history and timeline read Deputy's memory of Slack threads; the console keeps none.",
        );
      else await runAgent(thread, user, command.prompt);
    } catch (error) {
      deps.logger.error({ err: error, threadId: thread.id }, "console turn failed");
      say(thread.id, "system", `Deputy could not finish: ${describeError(error)}`);
    } finally {
      deps.hub.publish(thread.id, { type: "busy", busy: false });
    }
  }

  async function decideAndPost(
    actionId: string,
    user: Identity,
    decision: Decision,
    digest: string | undefined,
  ): Promise<DecisionResult> {
    const result = await deps.decide({ actionId, approver: user, decision, digest });
    if (result.status === "refused") return result;
    const threadId = actionThreads.get(actionId) ?? result.action.conversation?.thread;
    const thread = threadId === undefined ? undefined : threads.get(threadId);
    if (!thread) return result;
    publishCard(thread.id, result.action);
    if (result.status === "not_pending") return result;
    if (result.status === "awaiting") {
      // More approvals are needed (the approval policy): nothing ran yet.
      say(thread.id, "system", result.message);
      return result;
    }
    const action = result.action;
    const who = user.name ?? user.id;
    const target = `${describeTarget(action.target, { lowercaseKind: true })}${several ? ` in cluster ${action.cluster}` : ""}`;
    const text =
      result.status === "rejected"
        ? `${who} rejected ${action.tool} on ${target}. Nothing was changed.`
        : result.status === "succeeded"
          ? `${action.tool} on ${target} succeeded (approved by ${who}). ${result.message}`.trim()
          : `${action.tool} on ${target} failed (approved by ${who}). ${result.message}`;
    deps.hub.publish(thread.id, { type: "result", actionId, status: result.status, text });
    note(
      thread,
      `Pending action ${actionId} (${action.tool} on ${target}): ${result.status}, decided by ${who}.`,
    );
    return result;
  }

  function enqueue(thread: ThreadState, user: Identity, text: string): Promise<void> {
    deps.hub.publish(thread.id, { type: "message", role: "user", author: user, text });
    // Each message is the root span of its trace, as a Slack request is (bot/app.ts).
    const done = thread.queue.then(() =>
      inSpan("console message", { kind: SpanKind.SERVER }, () => handle(thread, user, text)),
    );
    thread.queue = done;
    running.add(done);
    void done.finally(() => running.delete(done));
    return done;
  }

  return {
    startThread(user, rawText) {
      const text = validateText(rawText);
      const thread = newThread(newThreadId(), defaultCluster);
      threads.set(thread.id, thread);
      const title = text.length > 80 ? `${text.slice(0, 79)}…` : text;
      deps.hub.publish(thread.id, { type: "thread", title, startedBy: user, kind: "conversation" });
      return { threadId: thread.id, done: enqueue(thread, user, text) };
    },

    postMessage(threadId, user, rawText) {
      const thread = threads.get(threadId);
      if (!thread || threadId in FEED_TITLES) {
        throw new DeputyError("NOT_FOUND", `there is no conversation thread "${threadId.slice(0, 64)}"`);
      }
      const text = validateText(rawText);
      return { done: enqueue(thread, user, text) };
    },

    decide(actionId, user, decision, digest) {
      // A click is the root span of its trace, parent of the executor's OpenBao and Kubernetes calls.
      return inSpan("console decision", { kind: SpanKind.SERVER }, () =>
        decideAndPost(actionId, user, decision, digest),
      );
    },

    actionChanged(action) {
      const threadId = actionThreads.get(action.id);
      if (threadId === undefined || !threads.has(threadId)) return;
      publishCard(threadId, action);
      if (action.state === "expired") {
        deps.hub.publish(threadId, {
          type: "result",
          actionId: action.id,
          status: "expired",
          text: `${action.tool} on ${describeTarget(action.target, { lowercaseKind: true })}${several ? ` in cluster ${action.cluster}` : ""} expired without a decision. Nothing was changed.`,
        });
      }
    },

    auditStory(actionId) {
      if (!/^act_[A-Za-z0-9_-]{20,}$/.test(actionId)) {
        return Promise.reject(
          new DeputyError("INPUT_INVALID", `"${actionId.slice(0, 64)}" is not an action id`),
        );
      }
      return deps.auditStory(actionId);
    },

    postTriage(title, text, object) {
      feed(TRIAGE_THREAD_ID).publish({
        type: "triage",
        title: redactText(title),
        text: redactText(text),
        ...(object ? { object } : {}),
      });
    },

    postAlert(title, text) {
      feed(ALERTS_THREAD_ID).publish({ type: "triage", title: redactText(title), text: redactText(text) });
    },

    hasThread(threadId) {
      return threads.has(threadId);
    },

    async drain() {
      await Promise.allSettled([...running]);
    },

    close() {
      abort.abort();
    },
  };
}
