import type { MessageParam } from "@anthropic-ai/sdk/resources/messages/messages";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { ConversationRef, Identity } from "../../core/identity/identity.ts";
import type { Logger } from "../../core/observability/logger.ts";
import type { PendingActionRef } from "../../core/actions/schema.ts";
import type { AgentModel } from "./model.ts";

export type { MessageParam };

/** What a surface (Slack, console) learns while a turn runs. */
export type AgentProgress =
  | { type: "model_call"; iteration: number }
  | { type: "tool_start"; callId: string; tool: string; target: string | undefined }
  | {
      type: "tool_end";
      callId: string;
      tool: string;
      target: string | undefined;
      isError: boolean;
      durationMs: number;
      pendingAction: PendingActionRef | undefined;
    }
  | { type: "pending_action"; action: PendingActionRef }
  | { type: "retrying"; attempt: number; delayMs: number; reason: string };

export type StopReason = "iterations" | "time" | "tokens" | "model_unavailable" | "aborted" | "error";

export interface AgentLimits {
  maxIterations: number;
  maxSeconds: number;
  /** Input plus output tokens over the whole turn. */
  maxTokens: number;
  /** Output tokens per model call. */
  maxOutputTokens: number;
}

export interface AgentTurnInput {
  prompt: string;
  /** Earlier messages of this conversation (from the conversation store). */
  history: readonly MessageParam[];
  /** Notes the agent should know before this prompt (e.g. an approval result). */
  notes?: readonly string[];
  requester: Identity;
  conversation: ConversationRef;
  /** An MCP client connected to Deputy's MCP server. */
  mcp: Client;
  onProgress?: (event: AgentProgress) => void | Promise<void>;
  /**
   * Deputy's own note on a tool's result (e.g. a fix it remembers for a
   * diagnosis), given to the model after the result as trusted words.
   * Computed from the result's structured facts, never from its text.
   */
  annotate?: (call: AnnotatedCall) => Promise<string | undefined>;
  signal?: AbortSignal;
}

export interface AnnotatedCall {
  tool: string;
  arguments: Record<string, unknown>;
  isError: boolean;
  structured: Record<string, unknown> | undefined;
}

export interface ToolCallRecord {
  tool: string;
  arguments: Record<string, unknown>;
  isError: boolean;
  durationMs: number;
  pendingActionId: string | undefined;
}

export interface AgentUsage {
  modelCalls: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheCreationTokens: number;
}

export interface AgentTurnResult {
  /** The answer for the user (not yet sanitised: each surface does its own). */
  text: string;
  stoppedEarly: { reason: StopReason; message: string } | undefined;
  pendingActions: PendingActionRef[];
  toolCalls: ToolCallRecord[];
  /** This turn's messages, to append to the conversation history. */
  messages: MessageParam[];
  usage: AgentUsage;
  durationMs: number;
}

export interface AgentRunnerDeps {
  model: AgentModel;
  modelName: string;
  limits: AgentLimits;
  logger: Logger;
}
