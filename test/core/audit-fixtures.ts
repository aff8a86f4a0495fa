import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AuditLog } from "../../core/audit/log.ts";
import type { ConversationRef, Identity } from "../../core/identity/identity.ts";

export const alice: Identity = { kind: "slack", id: "U0ALICE", teamId: "T0TEAM", name: "alice" };
export const bob: Identity = { kind: "slack", id: "U0BOB", teamId: "T0TEAM", name: "bob" };
export const thread: ConversationRef = {
  surface: "slack",
  teamId: "T0TEAM",
  channel: "C0OPS",
  thread: "1700000000.000100",
};

export function tempAuditFile(): string {
  return join(mkdtempSync(join(tmpdir(), "deputy-audit-")), "audit.jsonl");
}

export type Ending = "approved" | "rejected" | "failed";

/** The events the MCP server, executor and bot emit for one write, in order. */
export function recordAction(audit: AuditLog, actionId: string, ending: Ending): void {
  const prompt = "checkout keeps crashing in shop, restart it please";
  const args = { namespace: "shop", name: "checkout" };
  audit.record({
    kind: "tool_call",
    actionId,
    actor: alice,
    conversation: thread,
    prompt,
    tool: "restart_deployment",
    arguments: args,
    outcome: "ok",
    durationMs: 42,
    cluster: "local",
  });
  audit.record({
    kind: "policy_decision",
    actionId,
    tool: "restart_deployment",
    decision: "allow",
    rule: "default-allow",
  });
  audit.record({
    kind: "pending_action",
    actionId,
    actor: alice,
    conversation: thread,
    tool: "restart_deployment",
    arguments: args,
    decision: "pending",
    reason: "pods crash on start with a stale config",
  });
  if (ending === "rejected") {
    audit.record({
      kind: "approval_decision",
      actionId,
      approver: bob,
      decision: "rejected",
      message: "not during the sale",
    });
    return;
  }
  audit.record({ kind: "approval_decision", actionId, approver: bob, decision: "approved" });
  audit.record({
    kind: "execution",
    actionId,
    tool: "restart_deployment",
    leaseId: "kubernetes/creds/deputy-executor/Xy12AbCdEf",
    kubeStatus: ending === "approved" ? 200 : 409,
    durationMs: 310,
    outcome: ending === "approved" ? "succeeded" : "failed",
    message:
      ending === "approved" ? "restarted shop/checkout" : "the deployment changed since the card was shown",
  });
}
