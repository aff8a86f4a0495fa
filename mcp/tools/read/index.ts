import type { ToolDefinition } from "../../tool.ts";
import type { McpDeps } from "../../deps.ts";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each tool has its own argument shape
export const readTools: ToolDefinition<McpDeps, any>[] = [];
