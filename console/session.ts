import { randomBytes } from "node:crypto";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { DeputyError, describeError } from "../core/errors.ts";
import type { ConversationRef, Identity } from "../core/identity.ts";
import type { Logger } from "../core/logger.ts";
import type { Decision, DecisionResult, PendingAction, PendingActionSummary } from "../core/pending.ts";
import type { CallerContext } from "../mcp/tool.ts";
import { approvalCardView } from "./card.ts";
import type { ConsoleEventBody, EventHub } from "./events.ts";

/**
 * The console's conversations: what happens when a local user posts a message
 * or clicks a card button. Everything goes through the same MCP tools (with the
 * caller in `_meta`), the same agent loop and the same approval executor as
 * the Slack app; this module only turns their results into thread events.
 */

export interface DirectCommand {
  tool: string;
  arguments: Record<string, unknown>;
}

export interface AgentTurnInput {
  prompt: string;
  history: ConversationTurn[];
  requester: Identity;
  conversation: ConversationRef;
  signal: AbortSignal;
  /** Tool calls, progress and cards as they happen. */
  emit: (body: ConsoleEventBody) => void;
}

export interface ConversationTurn {
  role: "user" | "assistant";
  content: string;
}

export interface ConsoleSessionDeps {
  hub: EventHub;
  logger: Logger;
  /** Who may approve (shown on cards); the executor is what enforces it. */
  approvers: readonly string[];
  /** Calls one MCP tool with the caller in `_meta`. */
  callTool: (name: string, args: Record<string, unknown>, caller: CallerContext) => Promise<CallToolResult>;
  /** `undefined` when the text is not a direct command; throws a DeputyError when it is one but malformed. */
  parseDirectCommand: (text: string) => DirectCommand | undefined;
  /** Present only when a model is configured. */
  runAgentTurn: ((input: AgentTurnInput) => Promise<{ text: string }>) | undefined;
  decide: (input: { actionId: string; approver: Identity; decision: Decision }) => Promise<DecisionResult>;
  /** One line per audit event of the action, oldest first. */
  auditStory: (actionId: string) => Promise<AuditStoryView>;
  /** Shown when no model is configured. */
  directCommandHelp: readonly string[];
}

export interface AuditStoryView {
  actionId: string;
  lines: string[];
}

export interface ConsoleSession {
  startThread(user: Identity, text: string): { threadId: string; done: Promise<void> };
  postMessage(threadId: string, user: Identity, text: string): { done: Promise<void> };
  decide(actionId: string, user: Identity, decision: Decision): Promise<DecisionResult>;
  auditStory(actionId: string): Promise<AuditStoryView>;
  /** Proactive triage from the watcher lands here. */
  postTriage(title: string, text: string, object?: string): void;
  hasThread(threadId: string): boolean;
  /** Waits for running turns (used on shutdown). */
  drain(): Promise<void>;
  close(): void;
}

export const MAX_MESSAGE_CHARS = 4000;
const MAX_HISTORY_TURNS = 40;
export const TRIAGE_THREAD_ID = "triage";

interface ThreadState {
  id: string;
  history: ConversationTurn[];
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

export function pendingActionOf(result: CallToolResult): PendingActionSummary | undefined {
  const structured = result.structuredContent as { pendingAction?: PendingActionSummary } | undefined;
  const action = structured?.pendingAction;
  return action && typeof action.id === "string" && action.id.startsWith("act_") ? action : undefined;
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

export function createConsoleSession(deps: ConsoleSessionDeps): ConsoleSession {
  const threads = new Map<string, ThreadState>();
  const abort = new AbortController();
  const running = new Set<Promise<void>>();
  /** Which thread each action's card lives in, so decisions post back there. */
  const actionThreads = new Map<string, string>();

  const conversationOf = (threadId: string): ConversationRef => ({
    surface: "console",
    channel: "console",
    thread: threadId,
  });

  function publishCard(threadId: string, action: PendingAction | PendingActionSummary): void {
    actionThreads.set(action.id, threadId);
    deps.hub.publish(threadId, { type: "card", card: approvalCardView(action, deps.approvers) });
  }

  async function runDirectCommand(
    thread: ThreadState,
    command: DirectCommand,
    user: Identity,
    text: string,
  ): Promise<void> {
    const emit = (body: ConsoleEventBody): void => void deps.hub.publish(thread.id, body);
    const callId = `call_${randomBytes(6).toString("hex")}`;
    emit({ type: "tool_call", callId, tool: command.tool, arguments: command.arguments, status: "running" });
    const started = Date.now();
    const result = await deps.callTool(command.tool, command.arguments, {
      requester: user,
      conversation: conversationOf(thread.id),
      prompt: text,
      reason: `direct command from ${user.id}: ${text}`,
    });
    const output = textOf(result);
    emit({
      type: "tool_call",
      callId,
      tool: command.tool,
      arguments: command.arguments,
      status: result.isError ? "error" : "ok",
      durationMs: Date.now() - started,
    });
    const pending = pendingActionOf(result);
    if (pending) {
      emit({ type: "message", role: "deputy", author: undefined, text: output });
      publishCard(thread.id, pending);
    } else {
      emit({ type: "message", role: result.isError ? "system" : "deputy", author: undefined, text: output });
    }
    remember(thread, text, output);
  }

  async function runAgent(thread: ThreadState, user: Identity, text: string): Promise<void> {
    const agent = deps.runAgentTurn;
    if (!agent) {
      deps.hub.publish(thread.id, {
        type: "message",
        role: "system",
        author: undefined,
        text: [
          "No model is configured (ANTHROPIC_API_KEY is not set), so Deputy cannot answer free-form questions here.",
          "Direct commands work without a model, through the same tools and approvals:",
          ...deps.directCommandHelp.map((line) => `  ${line}`),
        ].join("\n"),
      });
      return;
    }
    const result = await agent({
      prompt: text,
      history: thread.history.slice(),
      requester: user,
      conversation: conversationOf(thread.id),
      signal: abort.signal,
      emit: (body) => {
        if (body.type === "card") actionThreads.set(body.card.actionId, thread.id);
        deps.hub.publish(thread.id, body);
      },
    });
    deps.hub.publish(thread.id, { type: "message", role: "deputy", author: undefined, text: result.text });
    remember(thread, text, result.text);
  }

  function remember(thread: ThreadState, prompt: string, answer: string): void {
    thread.history.push({ role: "user", content: prompt }, { role: "assistant", content: answer });
    if (thread.history.length > MAX_HISTORY_TURNS)
      thread.history.splice(0, thread.history.length - MAX_HISTORY_TURNS);
  }

  async function handle(thread: ThreadState, user: Identity, text: string): Promise<void> {
    deps.hub.publish(thread.id, { type: "busy", busy: true });
    try {
      let command: DirectCommand | undefined;
      try {
        command = deps.parseDirectCommand(text);
      } catch (error) {
        deps.hub.publish(thread.id, {
          type: "message",
          role: "system",
          author: undefined,
          text: describeError(error),
        });
        return;
      }
      if (command) await runDirectCommand(thread, command, user, text);
      else await runAgent(thread, user, text);
    } catch (error) {
      deps.logger.error({ err: error, threadId: thread.id }, "console turn failed");
      deps.hub.publish(thread.id, {
        type: "message",
        role: "system",
        author: undefined,
        text: `Deputy could not finish: ${describeError(error)}`,
      });
    } finally {
      deps.hub.publish(thread.id, { type: "busy", busy: false });
    }
  }

  function enqueue(thread: ThreadState, user: Identity, text: string): Promise<void> {
    deps.hub.publish(thread.id, { type: "message", role: "user", author: user, text });
    const done = thread.queue.then(() => handle(thread, user, text));
    thread.queue = done;
    running.add(done);
    void done.finally(() => running.delete(done));
    return done;
  }

  return {
    startThread(user, rawText) {
      const text = validateText(rawText);
      const thread: ThreadState = { id: newThreadId(), history: [], queue: Promise.resolve() };
      threads.set(thread.id, thread);
      const title = text.length > 80 ? `${text.slice(0, 79)}…` : text;
      deps.hub.publish(thread.id, { type: "thread", title, startedBy: user, kind: "conversation" });
      return { threadId: thread.id, done: enqueue(thread, user, text) };
    },

    postMessage(threadId, user, rawText) {
      const text = validateText(rawText);
      const thread = threads.get(threadId);
      if (!thread) throw new DeputyError("NOT_FOUND", `there is no thread "${threadId.slice(0, 64)}"`);
      return { done: enqueue(thread, user, text) };
    },

    async decide(actionId, user, decision) {
      const result = await deps.decide({ actionId, approver: user, decision });
      if (result.status === "refused") return result;
      const threadId = actionThreads.get(actionId) ?? result.action.conversation?.thread;
      if (threadId === undefined || !threads.has(threadId)) return result;
      publishCard(threadId, result.action);
      if (result.status === "not_pending") return result;
      const thread = threads.get(threadId)!;
      const who = user.name ?? user.id;
      const text =
        result.status === "rejected"
          ? `${who} rejected ${result.action.summary}.`
          : `${result.action.summary}: ${result.status} (approved by ${who}). ${result.message}`;
      deps.hub.publish(threadId, { type: "result", actionId, status: result.status, text });
      // The agent's next turn in this thread should know what happened.
      remember(thread, `[action ${actionId} decided]`, text);
      return result;
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
      if (!threads.has(TRIAGE_THREAD_ID)) {
        threads.set(TRIAGE_THREAD_ID, { id: TRIAGE_THREAD_ID, history: [], queue: Promise.resolve() });
        deps.hub.publish(TRIAGE_THREAD_ID, {
          type: "thread",
          title: "Proactive triage",
          startedBy: undefined,
          kind: "triage",
        });
      }
      deps.hub.publish(TRIAGE_THREAD_ID, { type: "triage", title, text, ...(object ? { object } : {}) });
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
