import { describe, expect, it } from "vitest";
import {
  defaultApprovalPolicy,
  evaluatePolicy,
  parseApprovalPolicy,
  type PolicyInput,
} from "../../core/actions/approval-policy.ts";

/** The approval policy's parser, type checker and evaluator, without any process around them. */
const action = (overrides: Partial<PolicyInput["action"]> = {}): PolicyInput["action"] => ({
  tool: "restart_deployment",
  cluster: "production",
  target: { kind: "Deployment", namespace: "shop", name: "checkout" },
  risk: { level: "normal", flags: [] },
  requester: { kind: "slack", id: "U0ALICE" },
  conversation: { channel: "C0SHOP" },
  ...overrides,
});
const at = (iso: string): Date => new Date(iso);

const problem = (text: string): string => {
  try {
    parseApprovalPolicy(text, "policy.yaml");
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("the policy was accepted");
};

describe("approval policy: a broken policy is refused whole, naming the file and the line", () => {
  it("a condition that does not parse", () => {
    expect(
      problem(
        "version: 1\nrules:\n  - name: ok\n    when: 'true'\n    approve: { users: [U0BOB] }\n  - name: broken\n    when: action.tool ==\n    refuse: no\n",
      ),
    ).toBe(
      'The approval policy is invalid: policy.yaml:7: rule "broken": when does not parse: Unexpected token: EOF',
    );
  });

  it("a condition that does not type-check: a string compared with a number, an unknown field, not a bool", () => {
    const rule = (when: string): string =>
      problem(`version: 1\nrules:\n  - name: r\n    when: ${when}\n    refuse: frozen\n`);
    expect(rule("action.tool == 1")).toBe(
      'The approval policy is invalid: policy.yaml:4: rule "r": when does not type-check: no such overload: string == int',
    );
    expect(rule("action.owner == 'x'")).toMatch(
      /^The approval policy is invalid: policy\.yaml:4: .*No such key: owner/,
    );
    expect(rule("action.name")).toBe(
      'The approval policy is invalid: policy.yaml:4: rule "r": when must be a bool condition, but it is string',
    );
    expect(rule("time.hour > '9'")).toMatch(/policy\.yaml:4: rule "r": when does not type-check/);
  });

  it("YAML errors, unknown keys, undeclared groups, impossible counts and time zones", () => {
    expect(problem("version: 1\nrules: [\n")).toMatch(/^The approval policy is invalid: policy\.yaml:\d+: /);
    expect(
      problem("version: 1\nrules:\n  - name: r\n    when: 'true'\n    aprove: { users: [U0BOB] }\n"),
    ).toMatch(/policy\.yaml:5: rule: unknown key "aprove"/);
    expect(
      problem("version: 1\nrules:\n  - name: r\n    when: 'true'\n    approve: { groups: [sre] }\n"),
    ).toMatch(/policy\.yaml:5: rule "r": groups: "sre" is not a declared group/);
    expect(
      problem(
        "version: 1\nrules:\n  - name: r\n    when: 'true'\n    approve: { users: [U0BOB], count: 0 }\n",
      ),
    ).toMatch(/policy\.yaml:5: rule "r": count must be a whole number from 1 to 10/);
    expect(
      problem(
        "version: 1\nrules:\n  - name: r\n    when: 'true'\n    approve: { users: [U0BOB], count: 2, requester: true }\n",
      ),
    ).toMatch(/the requester never counts towards more than one approval/);
    expect(problem("version: 1\ntimeZone: Mars/Olympus\nrules: []\n")).toMatch(
      /policy\.yaml:2: timeZone "Mars\/Olympus" is not a time zone name/,
    );
    expect(problem("version: 2\nrules: []\n")).toMatch(/policy\.yaml:1: version must be 1/);
  });
});

describe("approval policy: evaluation", () => {
  const policy = parseApprovalPolicy(
    [
      "version: 1",
      "timeZone: Europe/Berlin",
      "groups: { oncall: S0ONCALL, sre: S0SRE, payments: S0PAY }",
      "rules:",
      "  - name: weekend",
      "    when: time.weekday in ['Sat', 'Sun'] && time.hour < 8",
      "    refuse: Nothing before 8 on a weekend.",
      "  - name: payments",
      "    when: action.namespace == 'payments' && !('payments' in requester.groups)",
      "    approve: { groups: [payments] }",
      "  - name: high risk",
      "    when: action.risk == 'high' || 'statefulset-pod' in action.flags",
      "    approve: { groups: [sre], count: 2, breakGlass: oncall }",
      "  - name: ops channel",
      "    when: channel == 'C0OPS'",
      "    approve: { users: [U0BOB] }",
    ].join("\n"),
    "policy.yaml",
  );
  const monday = at("2026-12-07T10:00:00Z");

  it("the first rule that holds decides, over the action, the requester's groups, the channel and the time", () => {
    const verdict = (input: Partial<PolicyInput>) =>
      evaluatePolicy(policy, { action: action(), requesterGroups: [], now: monday, ...input });
    // 07:30 in Berlin on a Sunday is 06:30 UTC.
    expect(verdict({ now: at("2026-12-06T06:30:00Z") })).toMatchObject({ kind: "refuse", rule: "weekend" });
    expect(verdict({ now: at("2026-12-06T07:30:00Z") })).toMatchObject({ kind: "refuse", rule: "no-rule" });
    const payments = action({ target: { kind: "Deployment", namespace: "payments", name: "ledger" } });
    expect(verdict({ action: payments })).toMatchObject({ kind: "approve", rule: "payments" });
    expect(verdict({ action: payments, requesterGroups: ["payments"] })).toMatchObject({ rule: "no-rule" });
    expect(
      verdict({ action: action({ risk: { level: "normal", flags: [{ rule: "statefulset-pod" }] } }) }),
    ).toMatchObject({ kind: "approve", rule: "high risk", required: 2, breakGlass: "oncall" });
    expect(verdict({ action: action({ conversation: { channel: "C0OPS" } }) })).toMatchObject({
      rule: "ops channel",
      approvers: { users: ["U0BOB"], groups: [] },
    });
  });

  it("a condition that fails while evaluating is an error verdict, never an approval", () => {
    const broken = parseApprovalPolicy(
      "version: 1\nrules:\n  - name: numbered\n    when: int(action.name) > 3\n    approve: { users: [U0BOB] }\n",
      "policy.yaml",
    );
    const verdict = evaluatePolicy(broken, { action: action(), requesterGroups: [], now: monday });
    expect(verdict.kind).toBe("error");
    expect(verdict).toMatchObject({
      rule: "numbered",
      reason: expect.stringMatching(
        /^The approval policy's rule "numbered" could not be evaluated \(.+\), so it cannot say who may approve; nothing was run\.$/,
      ),
    });
  });

  it("the built-in policy states today's settings: one approver from the list or group, the two-person rule per risk", () => {
    const built = defaultApprovalPolicy({
      approvers: ["T1:U0BOB"],
      group: "S0ONCALL",
      twoPersonRule: { normal: false, high: true },
    });
    const normal = evaluatePolicy(built, { action: action(), requesterGroups: [], now: monday });
    expect(normal).toMatchObject({
      kind: "approve",
      required: 1,
      requesterMayApprove: true,
      approvers: { users: ["U0BOB"], groups: ["approvers"] },
    });
    const high = evaluatePolicy(built, {
      action: action({ risk: { level: "high", flags: [] } }),
      requesterGroups: [],
      now: monday,
    });
    expect(high).toMatchObject({ kind: "approve", required: 1, requesterMayApprove: false });
    expect(built.groups).toEqual({ approvers: "S0ONCALL" });
    // The same settings are the same policy: its hash is stable.
    expect(
      defaultApprovalPolicy({
        approvers: ["T1:U0BOB"],
        group: "S0ONCALL",
        twoPersonRule: { normal: false, high: true },
      }).hash,
    ).toBe(built.hash);
  });
});
