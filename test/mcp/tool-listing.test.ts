import type { z } from "zod";
import { describe, expect, it } from "vitest";
import { advertisedSchema, describeIssues, toolListing } from "../../mcp/server.ts";
import { readTools } from "../../mcp/tools/read/index.ts";
import { writeTools } from "../../mcp/tools/write/index.ts";
import { countTokens } from "../helpers/tokens.ts";

/**
 * tools/list is paid for on every model call of a conversation, so its size
 * is guarded here with a real tokenizer. The whole list is held to 3,800
 * tokens (the Go kubernetes-mcp-server lists 14 tools in about that), and the
 * read tools to their share; `npm run bench -- tokens` prints the figures.
 */
const READ_TOOLS_BUDGET = 2_100;
// The goal itself: the write tools no longer repeat the approval sentence the
// server's instructions say once.
const WHOLE_LIST_CEILING = 3_800;

function listingTokens(tools: readonly Parameters<typeof toolListing>[0][]): number {
  return countTokens(JSON.stringify(tools.map(toolListing)));
}

describe("advertisedSchema", () => {
  it("leaves out what the server enforces anyway and keeps what a model fills in", () => {
    const schema = {
      type: "object",
      properties: {
        pattern: { type: "string", description: "pattern", maxLength: 10, pattern: "^a+$" },
        limit: { type: "integer", minimum: 1, maximum: 500, default: 100 },
        count: { type: "integer", minimum: -9007199254740991, maximum: 9007199254740991 },
        flag: { type: "boolean", default: false },
        on: { type: "boolean", default: true },
        kind: { type: "string", enum: ["A", "B"], description: "which kind" },
        env: { type: "object", additionalProperties: { type: "string", maxLength: 5 } },
      },
      required: ["pattern"],
      additionalProperties: false,
    };
    expect(advertisedSchema(schema)).toEqual({
      type: "object",
      properties: {
        // A property named like a keyword is still a property; its echoing description goes.
        pattern: { type: "string" },
        limit: { type: "integer", minimum: 1, maximum: 500, default: 100 },
        count: { type: "integer" },
        flag: { type: "boolean" },
        on: { type: "boolean", default: true },
        kind: { type: "string", enum: ["A", "B"], description: "which kind" },
        env: { type: "object", additionalProperties: { type: "string" } },
      },
      required: ["pattern"],
    });
  });

  it("still refuses at call time what the listing no longer spells out", () => {
    const tool = readTools.find((t) => t.name === "check_logs")!;
    const listed = toolListing(tool).inputSchema as { properties: Record<string, object> };
    expect(listed.properties.grep).not.toHaveProperty("maxLength");
    const parsed = tool.inputSchema
      .strict()
      .safeParse({ namespace: "shop", pod: "x", grep: "a".repeat(500), colour: "red" });
    expect(parsed.success).toBe(false);
    const message = describeIssues("check_logs", (parsed as z.ZodSafeParseError<unknown>).error.issues);
    expect(message).toMatch(/grep: Too big/);
    expect(message).toMatch(/unknown argument\(s\) "colour"/);
  });
});

describe("tools/list size", () => {
  it(`keeps the read tools within ${READ_TOOLS_BUDGET.toLocaleString("en-US")} tokens`, () => {
    expect(listingTokens(readTools)).toBeLessThanOrEqual(READ_TOOLS_BUDGET);
  });

  it(`keeps the whole list within ${WHOLE_LIST_CEILING.toLocaleString("en-US")} tokens`, () => {
    expect(listingTokens([...readTools, ...writeTools])).toBeLessThanOrEqual(WHOLE_LIST_CEILING);
  });

  it("keeps the hints that spare the model a refusal", () => {
    const description = (name: string): string =>
      toolListing([...readTools, ...writeTools].find((t) => t.name === name)!).description ?? "";
    expect(description("kubectl")).toMatch(/Write verbs are refused and name the write tool/);
    expect(description("kubectl")).toMatch(/Secrets are never shown/);
    expect(description("get_resource")).toMatch(/Secrets are refused/);
    expect(description("list_deployments")).toMatch(/change those in Git, not live/);
    expect(description("propose_git_change")).toMatch(/refused with rule argocd-managed/);
    expect(description("troubleshoot_pod")).toMatch(/^Start here/);
  });

  it("lists each tool once, with its title at the top level and all four annotations", () => {
    for (const tool of [...readTools, ...writeTools]) {
      const listing = toolListing(tool);
      expect(listing.title).toBe(tool.title);
      expect(Object.keys(listing.annotations ?? {}).sort()).toEqual([
        "destructiveHint",
        "idempotentHint",
        "openWorldHint",
        "readOnlyHint",
      ]);
    }
  });
});
