import { readTools } from "./read/index.ts";
import { writeTools } from "./write/index.ts";

/** Every tool Deputy's MCP server registers, read and write, in one list. */
export const allTools = [...readTools, ...writeTools];
