import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createAuditLog } from "../../core/audit/log.ts";
import { actionStory } from "../../core/audit/story.ts";
import { parseAuditRecords } from "../../core/audit/verify.ts";
import { Writable } from "node:stream";
import { alice, bob, recordAction, tempAuditFile } from "./audit-fixtures.ts";

function storyFor(ending: "approved" | "rejected" | "failed"): string {
  const file = tempAuditFile();
  const audit = createAuditLog({ file });
  recordAction(audit, "act_OTHERxxxxxxxxxxxxxxxxxx", "approved");
  recordAction(audit, "act_STORYxxxxxxxxxxxxxxxxxx", ending);
  audit.record({ kind: "tool_call", tool: "list_pods" });
  const records = parseAuditRecords(readFileSync(file, "utf8").split("\n"));
  const story = actionStory(records, "act_STORYxxxxxxxxxxxxxxxxxx");
  expect(story.outcome).toBe(ending === "approved" ? "succeeded" : ending);
  return story.text;
}

describe("actionStory", () => {
  it("tells who asked, what ran, who approved, the lease, the status and the outcome", () => {
    const text = storyFor("approved");
    expect(text).toContain("Action act_STORYxxxxxxxxxxxxxxxxxx on cluster local: succeeded");
    expect(text).toMatch(
      /alice \(slack T0TEAM\/U0ALICE\) asked in slack T0TEAM\/C0OPS, thread 1700000000.000100/,
    );
    expect(text).toContain('"checkout keeps crashing in shop, restart it please"');
    expect(text).toContain('restart_deployment with {"namespace":"shop","name":"checkout"}');
    expect(text).toContain("policy allowed restart_deployment by rule default-allow");
    expect(text).toContain("stored as pending");
    expect(text).toContain("pods crash on start with a stale config");
    expect(text).toMatch(/bob \(slack T0TEAM\/U0BOB\) approved it .* after it was proposed/);
    expect(text).toContain("with OpenBao lease kubernetes/creds/deputy-executor/Xy12AbCdEf");
    expect(text).toContain("Kubernetes answered 200 in 310 ms → succeeded");
    expect(text).not.toContain("act_OTHER");
  });

  it("tells a rejection with the reason and no execution", () => {
    const text = storyFor("rejected");
    expect(text).toContain(": rejected");
    expect(text).toMatch(/bob .* rejected it/);
    expect(text).toContain('"not during the sale"');
    expect(text).not.toContain("executed");
  });

  it("tells a failure with the Kubernetes status and message", () => {
    const text = storyFor("failed");
    expect(text).toContain(": failed");
    expect(text).toContain("Kubernetes answered 409");
    expect(text).toContain("the deployment changed since the card was shown");
  });

  it("says clearly when there is nothing to tell", () => {
    expect(() => actionStory([], "act_missingxxxxxxxxxxxxxxx")).toThrow(
      /no audit records for action act_missing/,
    );
  });

  it("links the tool call and policy decision the MCP server writes before the action has an id", () => {
    const file = tempAuditFile();
    const mcp = createAuditLog({ file, chain: "mcp-0" });
    const args = { namespace: "shop", name: "checkout" };
    const call = { actor: alice, tool: "restart_deployment", arguments: args };
    // An earlier, unrelated call of the same tool by the same person.
    mcp.record({ kind: "policy_decision", ...call, decision: "allow" });
    mcp.record({ kind: "pending_action", ...call, actionId: "act_EARLIERxxxxxxxxxxxxxxxx" });
    mcp.record({ kind: "tool_call", ...call, outcome: "ok", durationMs: 30 });
    // Someone else's call in between.
    mcp.record({
      kind: "policy_decision",
      actor: bob,
      tool: "restart_deployment",
      arguments: args,
      decision: "allow",
    });
    // The action of interest, exactly as the MCP server writes it.
    mcp.record({
      kind: "policy_decision",
      ...call,
      decision: "allow",
      details: { flags: ["production-label"] },
    });
    mcp.record({
      kind: "pending_action",
      ...call,
      actionId: "act_LINKEDxxxxxxxxxxxxxxxxx",
      prompt: "restart checkout",
    });
    mcp.record({ kind: "tool_call", ...call, outcome: "ok", durationMs: 41 });
    mcp.record({ kind: "tool_call", ...call, outcome: "ok", durationMs: 99 }); // a later call
    // The executor writes to its own chain.
    const executor = createAuditLog({ file: tempAuditFile(), chain: "executor-0" });
    const decided = executor.record({
      kind: "approval_decision",
      actionId: "act_LINKEDxxxxxxxxxxxxxxxxx",
      approver: bob,
      decision: "approved",
    });
    const records = [...parseAuditRecords(readFileSync(file, "utf8").split("\n")), decided];

    const story = actionStory(records, "act_LINKEDxxxxxxxxxxxxxxxxx");
    expect(story.records.map((r) => r.kind)).toEqual([
      "policy_decision",
      "pending_action",
      "tool_call",
      "approval_decision",
    ]);
    expect(story.records[0]!.actor).toEqual(alice);
    expect(story.text).toContain("in 41 ms");
    expect(story.text).not.toContain("in 99 ms");
    expect(story.text).not.toContain("in 30 ms");
    expect(story.outcome).toBe("approved");
  });

  it("tells an expiry without pretending someone decided", () => {
    const audit = createAuditLog({ destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    const records = [
      audit.record({
        kind: "pending_action",
        actionId: "act_EXPIREDxxxxxxxxxxxxxxxx",
        actor: alice,
        tool: "delete_pod",
      }),
      audit.record({
        kind: "approval_decision",
        actionId: "act_EXPIREDxxxxxxxxxxxxxxxx",
        decision: "expired",
      }),
    ];
    const story = actionStory(records, "act_EXPIREDxxxxxxxxxxxxxxxx");
    expect(story.outcome).toBe("expired");
    expect(story.text).toContain("it expired without a decision");
  });
});
