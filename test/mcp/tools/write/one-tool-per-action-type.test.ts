import { readdirSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { actionTypes } from "../../../../core/actions/types/index.ts";
import { readTools } from "../../../../mcp/tools/read/index.ts";
import { writeTools } from "../../../../mcp/tools/write/index.ts";
import { requiresApproval } from "../../../../mcp/tool.ts";

const ROOT = resolve(import.meta.dirname, "../../../..");

/** Every value a folder's own files export (not its index, not its support files). */
async function exportsOf(folder: string): Promise<unknown[]> {
  const files = readdirSync(resolve(ROOT, folder)).filter(
    (name) => name.endsWith(".ts") && name !== "index.ts" && !name.endsWith("support.ts"),
  );
  const modules = await Promise.all(
    files.map(async (name) => (await import(resolve(ROOT, folder, name))) as Record<string, unknown>),
  );
  return modules.flatMap((module) => Object.values(module));
}

const isActionType = (value: unknown): value is { name: string } =>
  typeof value === "object" &&
  value !== null &&
  typeof (value as { name?: unknown }).name === "string" &&
  typeof (value as { run?: unknown }).run === "function" &&
  typeof (value as { view?: unknown }).view === "function";

const isTool = (value: unknown): value is { name: string } =>
  typeof value === "object" &&
  value !== null &&
  typeof (value as { name?: unknown }).name === "string" &&
  typeof (value as { handler?: unknown }).handler === "function";

/**
 * The write tools are derived from the action types (mcp/tools/write/index.ts
 * keeps each tool under its type's name, so a missing or extra entry does not
 * compile); what the compiler cannot see is held here.
 */
describe("one write tool per action type", () => {
  it("lists, in the action types' order, the tool each type proposes under its own name", () => {
    expect(writeTools.map((tool) => tool.name)).toEqual(actionTypes.map((type) => type.name));
    expect(new Set(actionTypes.map((type) => type.name)).size).toBe(actionTypes.length);
  });

  it("leaves no declared action type and no write tool out of the lists", async () => {
    const declared = (await exportsOf("core/actions/types")).filter(isActionType);
    expect(declared.length).toBeGreaterThan(0);
    for (const type of declared) expect(actionTypes, type.name).toContain(type);
    const tools = (await exportsOf("mcp/tools/write")).filter(isTool);
    expect(tools.length).toBe(writeTools.length);
    for (const tool of tools) expect(writeTools, tool.name).toContain(tool);
  });

  it("makes every write tool need approval, and no read tool share a write's name", () => {
    for (const tool of writeTools) expect(requiresApproval(tool.annotations), tool.name).toBe(true);
    const writes = new Set<string>(actionTypes.map((type) => type.name));
    expect(readTools.filter((tool) => writes.has(tool.name)).map((tool) => tool.name)).toEqual([]);
  });
});
