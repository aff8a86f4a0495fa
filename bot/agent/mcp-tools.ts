import type { Tool as AnthropicTool } from "@anthropic-ai/sdk/resources/messages/messages";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { Tool as McpTool } from "@modelcontextprotocol/sdk/types.js";
import { requiresApproval } from "../../mcp/tool.ts";

/**
 * The MCP server's tools as the model sees them. Write tools (derived from the
 * annotations in one place, failing closed) get a required `reason` argument:
 * the model must say why, and the reason travels to the card in `_meta`, not
 * to the tool's own arguments.
 */
export const REASON_PROPERTY = "reason";

export interface AgentTool {
  name: string;
  isWrite: boolean;
  /** We added `reason` to the schema; strip it before calling the tool. */
  injectedReason: boolean;
  definition: AnthropicTool;
}

export interface AgentToolset {
  tools: AgentTool[];
  byName: Map<string, AgentTool>;
  /** Anthropic tool definitions; the last one carries the cache breakpoint. */
  definitions: AnthropicTool[];
}

function toAgentTool(tool: McpTool): AgentTool {
  const isWrite = requiresApproval(tool.annotations);
  const schema = tool.inputSchema;
  const properties: Record<string, unknown> = { ...(schema.properties ?? {}) };
  const required = [...(schema.required ?? [])];
  const injectedReason = isWrite && !(REASON_PROPERTY in properties);
  if (injectedReason) {
    properties[REASON_PROPERTY] = {
      type: "string",
      description: "One sentence for the human approver: why this change fixes the problem you found.",
      maxLength: 500,
    };
    required.push(REASON_PROPERTY);
  }
  const description = [
    tool.description ?? tool.title ?? tool.name,
    isWrite
      ? "This is a change: it does not run; it creates an approval request that a human must approve."
      : "",
  ]
    .filter(Boolean)
    .join("\n\n");
  return {
    name: tool.name,
    isWrite,
    injectedReason,
    definition: {
      name: tool.name,
      description,
      input_schema: { ...schema, type: "object", properties, required },
    },
  };
}

/** List every tool (following pagination) and adapt it for the Messages API. */
export async function loadAgentToolset(mcp: Client, signal?: AbortSignal): Promise<AgentToolset> {
  const listed: McpTool[] = [];
  let cursor: string | undefined;
  do {
    const page = await mcp.listTools(cursor ? { cursor } : undefined, signal ? { signal } : undefined);
    listed.push(...page.tools);
    cursor = page.nextCursor;
  } while (cursor);
  const tools = listed.map(toAgentTool);
  const definitions = tools.map((tool, index) =>
    index === tools.length - 1
      ? { ...tool.definition, cache_control: { type: "ephemeral" as const } }
      : tool.definition,
  );
  return { tools, byName: new Map(tools.map((tool) => [tool.name, tool])), definitions };
}

/** "shop/checkout", "node-a" or the query: what a tool call acts on, for progress lines. */
export function describeCallTarget(args: Record<string, unknown>): string | undefined {
  const str = (value: unknown): string | undefined =>
    typeof value === "string" && value.length > 0 ? value : undefined;
  const namespace = str(args.namespace);
  const name = str(args.name) ?? str(args.pod) ?? str(args.deployment) ?? str(args.node);
  if (namespace && name) return `${namespace}/${name}`;
  if (name) return name;
  if (str(args.command)) return str(args.command)!.slice(0, 80);
  return namespace;
}
