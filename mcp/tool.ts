import type { z } from "zod";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { Logger } from "../core/observability/logger.ts";
import type { ConversationRef, Identity } from "../core/identity/identity.ts";

/**
 * The shape of every Deputy MCP tool: one file exports one ToolDefinition with
 * its schema, annotations and handler together. All four annotations are
 * required by this type; `requiresApproval` derives the read/write split from
 * them in one place and fails closed.
 */
export interface ToolAnnotations {
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
  openWorldHint: boolean;
}

/** Who is calling and from which conversation, passed by the agent in `_meta`. */
export interface CallerContext {
  requester: Identity | undefined;
  conversation: ConversationRef | undefined;
  /** The user prompt that started the turn, for the audit trail. */
  prompt: string | undefined;
  /** The agent's stated reason for a write, shown on the approval card. */
  reason: string | undefined;
}

export interface ToolContext<Deps> {
  deps: Deps;
  logger: Logger;
  signal: AbortSignal;
  caller: CallerContext;
}

export interface ToolDefinition<Deps, Shape extends z.ZodRawShape = z.ZodRawShape> {
  name: string;
  title: string;
  /** Written for an LLM: when to use the tool and what it returns. */
  description: string;
  inputSchema: z.ZodObject<Shape>;
  outputSchema?: z.ZodObject<z.ZodRawShape>;
  annotations: ToolAnnotations;
  handler: (args: z.infer<z.ZodObject<Shape>>, context: ToolContext<Deps>) => Promise<CallToolResult>;
}

/**
 * A tool needs human approval unless it declares itself read-only and not
 * destructive. Anything else, including a tool that lies by omission, is a
 * write (the MCP default for a missing destructiveHint is `true`).
 */
export function requiresApproval(annotations: Partial<ToolAnnotations> | undefined): boolean {
  if (!annotations) return true;
  return annotations.readOnlyHint !== true || annotations.destructiveHint !== false;
}

/** Define a tool with its argument types inferred from its schema. */
export function defineTool<Deps, Shape extends z.ZodRawShape>(
  definition: ToolDefinition<Deps, Shape>,
): ToolDefinition<Deps, Shape> {
  return definition;
}

/** A failure the model can act on: a plain sentence, flagged isError. */
export function toolError(message: string, structured?: Record<string, unknown>): CallToolResult {
  return {
    isError: true,
    content: [{ type: "text", text: message }],
    ...(structured ? { structuredContent: structured } : {}),
  };
}

export function toolText(text: string, structured?: Record<string, unknown>): CallToolResult {
  return {
    content: [{ type: "text", text }],
    ...(structured ? { structuredContent: structured } : {}),
  };
}
