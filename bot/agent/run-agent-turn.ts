import { inSpan } from "../../core/observability/tracing.ts";
import { randomUUID } from "node:crypto";
import type {
  ContentBlock,
  ContentBlockParam,
  Message,
  TextBlockParam,
  ToolResultBlockParam,
  ToolUseBlock,
} from "@anthropic-ai/sdk/resources/messages/messages";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { describeError, isDeputyError } from "../../core/errors.ts";
import { pendingActionRefSchema, type PendingActionRef } from "../../core/actions/schema.ts";
import { callerMeta } from "../../core/actions/meta.ts";
import {
  DEPUTY_MARKER,
  neutraliseFenceTags,
  TRUSTED_MARKERS,
  wrapToolResult,
} from "../../core/untrusted/fence.ts";
import { SYSTEM_PROMPT } from "../../prompts/index.ts";
import { redactText, redactValue } from "../../core/untrusted/redact.ts";
import { describeCallTarget, loadAgentToolset, REASON_PROPERTY, type AgentToolset } from "./mcp-tools.ts";
import type {
  AgentProgress,
  AnnotatedCall,
  AgentRunnerDeps,
  AgentTurnInput,
  AgentTurnResult,
  AgentUsage,
  MessageParam,
  StopReason,
  ToolCallRecord,
} from "./types.ts";

/**
 * One agent turn: the user's prompt, the Messages API with tool use, and
 * Deputy's MCP tools, until the model answers or a limit stops it. Surface-
 * agnostic: Slack and the local console both call this and render progress,
 * pending actions and the answer their own way.
 *
 * The model is untrusted. It only ever gets MCP tools (no approval path
 * exists here), every tool result is redacted and fenced as data (whatever
 * the MCP server already did: it may be remote or misbehave), and a write it
 * asks for comes back as a pending action for a human. What the model says is
 * redacted before it is kept, so an echoed secret reaches neither the stored
 * history nor any surface.
 */

const MAX_PARALLEL_TOOLS = 4;

/** The pending action a write tool returned, if any (validated: it becomes a card). */
export function pendingActionOf(result: CallToolResult): PendingActionRef | undefined {
  const candidate = (result.structuredContent as Record<string, unknown> | undefined)?.pendingAction;
  if (candidate === undefined) return undefined;
  const parsed = pendingActionRefSchema.safeParse(candidate);
  return parsed.success ? parsed.data : undefined;
}

function resultText(result: CallToolResult): string {
  const parts = result.content
    .map((item) => (item.type === "text" ? item.text : `[${item.type} content omitted]`))
    .filter((part) => part.length > 0);
  if (parts.length === 0 && result.structuredContent) return JSON.stringify(result.structuredContent);
  return parts.join("\n");
}

/** The model's reply as it is kept and shown: secrets in its text and tool inputs redacted. */
function redactReply(content: readonly ContentBlock[]): ContentBlock[] {
  return content.map((block) => {
    if (block.type === "text") return { ...block, text: redactText(block.text) };
    if (block.type === "tool_use") return { ...block, input: redactValue(block.input) };
    return block;
  });
}

function textOf(content: readonly ContentBlock[]): string {
  return content
    .filter((block): block is Extract<ContentBlock, { type: "text" }> => block.type === "text")
    .map((block) => block.text)
    .join("\n")
    .trim();
}

/** Tool lists rarely change; list once per MCP client. */
const toolsetCache = new WeakMap<Client, Promise<AgentToolset>>();

export function toolsetFor(mcp: Client, signal?: AbortSignal): Promise<AgentToolset> {
  let cached = toolsetCache.get(mcp);
  if (!cached) {
    cached = loadAgentToolset(mcp, signal);
    toolsetCache.set(mcp, cached);
    cached.catch(() => toolsetCache.delete(mcp));
  }
  return cached;
}

const STOP_MESSAGES: Record<StopReason, (limit: string) => string> = {
  iterations: (limit) => `I stopped early because I reached my limit of ${limit} steps for one question.`,
  time: (limit) => `I stopped early because I reached my time limit of ${limit} seconds for one question.`,
  tokens: (limit) => `I stopped early because this question used up my budget of ${limit} tokens.`,
  model_unavailable: (reason) => `I could not finish: ${reason}`,
  aborted: () => "I stopped because the request was cancelled.",
  error: (reason) => `I could not finish because of an internal error: ${reason}`,
};

/** One turn of the agent: a span of its own, parent of its model calls' tool calls. */
export function runAgentTurn(input: AgentTurnInput, deps: AgentRunnerDeps): Promise<AgentTurnResult> {
  return inSpan("agent turn", {}, () => agentTurn(input, deps));
}

async function agentTurn(input: AgentTurnInput, deps: AgentRunnerDeps): Promise<AgentTurnResult> {
  const started = Date.now();
  const { limits, logger } = deps;
  const turnId = randomUUID();
  const log = logger.child({ turn: turnId, conversation: input.conversation });
  const deadline = AbortSignal.timeout(limits.maxSeconds * 1000);
  const signal = input.signal ? AbortSignal.any([input.signal, deadline]) : deadline;
  const usage: AgentUsage = {
    modelCalls: 0,
    inputTokens: 0,
    outputTokens: 0,
    cacheReadTokens: 0,
    cacheCreationTokens: 0,
  };
  const pendingActions: PendingActionRef[] = [];
  const toolCalls: ToolCallRecord[] = [];

  const notify = async (event: AgentProgress): Promise<void> => {
    try {
      await input.onProgress?.(event);
    } catch (error) {
      // A surface failing to render progress must not stop the investigation.
      log.warn({ err: describeError(error), event: event.type }, "progress handler failed");
    }
  };

  const promptBlocks: TextBlockParam[] = [];
  if (input.notes && input.notes.length > 0) {
    promptBlocks.push({
      type: "text",
      text: redactText(
        `${TRUSTED_MARKERS.turnNotes}\n${input.notes.map((note) => `- ${neutraliseFenceTags(note, [DEPUTY_MARKER])}`).join("\n")}`,
      ),
    });
  }
  // A secret pasted into the question is no more welcome in the model's context or the history.
  promptBlocks.push({ type: "text", text: redactText(input.prompt) });
  const turnMessages: MessageParam[] = [{ role: "user", content: promptBlocks }];
  const messages = (): MessageParam[] => [...input.history, ...turnMessages];

  const finish = (
    text: string,
    stop: { reason: StopReason; detail: string } | undefined,
  ): AgentTurnResult => {
    const stoppedEarly = stop
      ? { reason: stop.reason, message: STOP_MESSAGES[stop.reason](stop.detail) }
      : undefined;
    let answer = text.trim();
    if (stoppedEarly) {
      answer = answer ? `${stoppedEarly.message}\n\nWhat I had so far:\n${answer}` : stoppedEarly.message;
      if (pendingActions.length > 0)
        answer += `\n\n${pendingActions.length} approval request(s) are waiting in this thread.`;
    }
    // Keep the history alternating: the turn always ends on an assistant message.
    if (turnMessages.at(-1)?.role !== "assistant") {
      turnMessages.push({ role: "assistant", content: [{ type: "text", text: answer || "(no answer)" }] });
    }
    const result: AgentTurnResult = {
      text: answer,
      stoppedEarly,
      pendingActions,
      toolCalls,
      messages: turnMessages,
      usage,
      durationMs: Date.now() - started,
    };
    log.info(
      {
        stoppedEarly: stoppedEarly?.reason,
        toolCalls: toolCalls.length,
        pending: pendingActions.length,
        usage,
        durationMs: result.durationMs,
      },
      "agent turn finished",
    );
    return result;
  };

  const stopForSignal = (lastText: string): AgentTurnResult =>
    input.signal?.aborted
      ? finish(lastText, { reason: "aborted", detail: "" })
      : finish(lastText, { reason: "time", detail: String(limits.maxSeconds) });

  let toolset: AgentToolset;
  try {
    toolset = await toolsetFor(input.mcp, signal);
  } catch (error) {
    if (signal.aborted) return stopForSignal("");
    log.error({ err: describeError(error) }, "listing MCP tools failed");
    return finish("", {
      reason: "error",
      detail: `Deputy's Kubernetes tools are unreachable (${describeError(error)}).`,
    });
  }

  let lastText = "";
  for (let iteration = 1; iteration <= limits.maxIterations; iteration++) {
    if (signal.aborted) return stopForSignal(lastText);
    const used = usage.inputTokens + usage.outputTokens + usage.cacheReadTokens + usage.cacheCreationTokens;
    if (used >= limits.maxTokens)
      return finish(lastText, { reason: "tokens", detail: String(limits.maxTokens) });

    await notify({ type: "model_call", iteration });
    let response: Message;
    try {
      response = await deps.model.create(
        {
          model: deps.modelName,
          max_tokens: limits.maxOutputTokens,
          // Cache breakpoints: the system prompt and (on the last tool) the tool list.
          system: [{ type: "text", text: SYSTEM_PROMPT, cache_control: { type: "ephemeral" } }],
          tools: toolset.definitions,
          messages: messages(),
        },
        {
          signal,
          onRetry: (info) => {
            log.warn(info, "model call retrying");
            void notify({ type: "retrying", ...info });
          },
        },
      );
    } catch (error) {
      if (signal.aborted) return stopForSignal(lastText);
      if (isDeputyError(error, "UPSTREAM_FAILED")) {
        return finish(lastText, { reason: "model_unavailable", detail: error.message });
      }
      log.error({ err: describeError(error) }, "model call failed");
      return finish(lastText, { reason: "error", detail: describeError(error) });
    }
    usage.modelCalls++;
    usage.inputTokens += response.usage.input_tokens;
    usage.outputTokens += response.usage.output_tokens;
    usage.cacheReadTokens += response.usage.cache_read_input_tokens ?? 0;
    usage.cacheCreationTokens += response.usage.cache_creation_input_tokens ?? 0;

    const kept = redactReply(response.content);
    turnMessages.push({ role: "assistant", content: kept as ContentBlockParam[] });
    const said = textOf(kept);
    if (said) lastText = said;
    const toolUses = response.content.filter((block): block is ToolUseBlock => block.type === "tool_use");

    if (response.stop_reason !== "tool_use" || toolUses.length === 0) {
      const cut =
        response.stop_reason === "max_tokens" ? "\n\n(My answer was cut short by the output limit.)" : "";
      return finish(`${said}${cut}`, undefined);
    }

    const results = await runTools(
      toolUses,
      said,
      toolset,
      input,
      signal,
      notify,
      pendingActions,
      toolCalls,
      log,
    );
    turnMessages.push({ role: "user", content: results });
  }
  return finish(lastText, { reason: "iterations", detail: String(limits.maxIterations) });
}

async function runTools(
  toolUses: readonly ToolUseBlock[],
  assistantText: string,
  toolset: AgentToolset,
  input: AgentTurnInput,
  signal: AbortSignal,
  notify: (event: AgentProgress) => Promise<void>,
  pendingActions: PendingActionRef[],
  toolCalls: ToolCallRecord[],
  log: AgentRunnerDeps["logger"],
): Promise<ToolResultBlockParam[]> {
  const results: ToolResultBlockParam[] = new Array(toolUses.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < toolUses.length) {
      const index = next++;
      results[index] = await runOneTool(
        toolUses[index]!,
        assistantText,
        toolset,
        input,
        signal,
        notify,
        pendingActions,
        toolCalls,
        log,
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(MAX_PARALLEL_TOOLS, toolUses.length) }, worker));
  return results;
}

async function runOneTool(
  use: ToolUseBlock,
  assistantText: string,
  toolset: AgentToolset,
  input: AgentTurnInput,
  signal: AbortSignal,
  notify: (event: AgentProgress) => Promise<void>,
  pendingActions: PendingActionRef[],
  toolCalls: ToolCallRecord[],
  log: AgentRunnerDeps["logger"],
): Promise<ToolResultBlockParam> {
  const started = Date.now();
  const tool = toolset.byName.get(use.name);
  const rawArgs =
    use.input !== null && typeof use.input === "object" ? { ...(use.input as Record<string, unknown>) } : {};
  const target = describeCallTarget(rawArgs);
  const reply = (text: string, isError: boolean, note?: string): ToolResultBlockParam => ({
    type: "tool_result",
    tool_use_id: use.id,
    content: wrapToolResult(use.name, redactText(text), { isError, note }),
    ...(isError ? { is_error: true } : {}),
  });

  if (!tool) {
    return reply(
      `There is no tool named "${use.name}". Use one of: ${[...toolset.byName.keys()].join(", ")}.`,
      true,
    );
  }
  // The reason is for the card, not for the tool: it travels in _meta.
  let args = rawArgs;
  let reason: string | undefined;
  if (tool.isWrite) {
    let given: unknown = rawArgs[REASON_PROPERTY];
    if (tool.injectedReason) {
      const { reason: stated, ...rest } = rawArgs;
      given = stated;
      args = rest;
    }
    reason =
      (typeof given === "string" && given.trim() ? given.trim() : assistantText).slice(0, 500) || undefined;
  }

  const callId = use.id;
  await notify({ type: "tool_start", callId, tool: use.name, target });
  let result: CallToolResult;
  try {
    result = (await input.mcp.callTool(
      {
        name: use.name,
        arguments: args,
        _meta: callerMeta({
          requester: input.requester,
          conversation: input.conversation,
          prompt: input.prompt,
          reason,
        }),
      },
      undefined,
      { signal, timeout: 60_000 },
    )) as CallToolResult;
  } catch (error) {
    const durationMs = Date.now() - started;
    toolCalls.push({
      tool: use.name,
      arguments: args,
      isError: true,
      durationMs,
      pendingActionId: undefined,
    });
    await notify({
      type: "tool_end",
      callId,
      tool: use.name,
      target,
      isError: true,
      durationMs,
      pendingAction: undefined,
    });
    log.warn({ tool: use.name, err: describeError(error) }, "tool call failed");
    return reply(`The tool call failed: ${describeError(error)}`, true);
  }
  const durationMs = Date.now() - started;
  const pendingAction = pendingActionOf(result);
  const isError = result.isError === true;
  toolCalls.push({
    tool: use.name,
    arguments: args,
    isError,
    durationMs,
    pendingActionId: pendingAction?.id,
  });
  if (pendingAction) pendingActions.push(pendingAction);
  await notify({ type: "tool_end", callId, tool: use.name, target, isError, durationMs, pendingAction });
  if (pendingAction) await notify({ type: "pending_action", action: pendingAction });
  else if (tool.isWrite && !isError) log.error({ tool: use.name }, "write tool returned no pending action");

  const annotation = await annotationOf(input, {
    tool: use.name,
    arguments: args,
    isError,
    structured: result.structuredContent,
  });
  const note = pendingAction
    ? `An approval card for ${pendingAction.id} is now in the conversation. Nothing has changed yet. Do not call the tool again; tell the user it waits for an approver.`
    : annotation;
  return reply(resultText(result), isError, note);
}

/** The surface's note on a result; one that fails is left out (the result still reaches the model). */
async function annotationOf(input: AgentTurnInput, call: AnnotatedCall): Promise<string | undefined> {
  if (!input.annotate) return undefined;
  try {
    return await input.annotate(call);
  } catch {
    return undefined;
  }
}

/** Bind the model, limits and logger once; surfaces call `run(input)`. */
export function createAgentRunner(deps: AgentRunnerDeps): {
  run: (input: AgentTurnInput) => Promise<AgentTurnResult>;
} {
  return { run: (input) => runAgentTurn(input, deps) };
}
