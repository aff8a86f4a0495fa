import { describe, expect, it } from "vitest";
import type { ApprovalCardView } from "../../console/card.ts";
import { createEventHub } from "../../console/events.ts";

describe("the console's event stream", () => {
  it("leaves through the shared redactor: tool targets, results and messages", () => {
    const hub = createEventHub();
    const seen: string[] = [];
    hub.subscribe(0, (event) => seen.push(JSON.stringify(event)));
    hub.publish("t1", {
      type: "tool_call",
      callId: "c1",
      tool: "kubectl",
      arguments: { target: "exec mysql -uroot -pSup3rS3cret9 shop" },
      status: "running",
    });
    hub.publish("t1", {
      type: "result",
      actionId: "act_1",
      status: "failed",
      text: "failed: Authorization: Token 9944b09199c62bcf9418ad846dd0e4bb was refused",
    });
    hub.publish("t1", { type: "progress", text: "redis-cli -a R3disPw0rd ping" });
    const all = seen.join("\n");
    for (const secret of ["Sup3rS3cret9", "9944b09199c62bcf", "R3disPw0rd"])
      expect(all).not.toContain(secret);
    expect(all).toContain("[redacted]");
  });

  it("shows an approval card whole: what an approver sees is never redacted", () => {
    const hub = createEventHub();
    const card = { actionId: "act_2", lines: ["--token abcdef123456"] } as unknown as ApprovalCardView;
    const event = hub.publish("t1", { type: "card", card });
    expect(event).toMatchObject({ type: "card", card });
  });
});
