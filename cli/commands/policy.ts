import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import {
  approvalPolicyFromConfig,
  loadApprovalPolicy,
  tracePolicy,
  type ApprovalPolicy,
  type PolicyInput,
  type PolicyVerdict,
} from "../../core/actions/approval-policy.ts";
import { parseConfig } from "../../core/config/config.ts";
import { DeputyError, describeError } from "../../core/errors.ts";
import { createLogger } from "../../core/observability/logger.ts";
import { option } from "../options.ts";
import { connectRedisForCommand } from "../redis.ts";

const USAGE = `Usage:
  deputy policy test <policy.yaml> <cases.yaml>
      Evaluate the approval policy against sample actions and the outcomes
      expected of them (rule, approve or refuse, how many approvers, who).
      Exit 0 when every case matches, 1 naming each mismatch: keep the
      policy under CI.
  deputy policy explain <action-id> [--groups g1,g2] [--at <ISO time>]
      Say which rule of the configured policy (DEPUTY_APPROVAL_POLICY, else
      the built-in one) applies to a stored action and why: each rule looked
      at, in order, and what its condition said. The requester's groups are
      those given with --groups (Slack is not asked). Reads the action from
      Redis and verifies it with the action key, as the executor does.
`;

const caseSchema = z
  .object({
    name: z.string().min(1),
    action: z
      .object({
        tool: z.string().min(1),
        cluster: z.string().default("production"),
        namespace: z.string().default(""),
        kind: z.string().default("Deployment"),
        name: z.string().default("example"),
        risk: z.enum(["normal", "high"]).default("normal"),
        flags: z.array(z.string()).default([]),
      })
      .strict(),
    requester: z
      .object({ id: z.string().default("U0REQUESTER"), groups: z.array(z.string()).default([]) })
      .strict()
      .default({ id: "U0REQUESTER", groups: [] }),
    channel: z.string().default(""),
    /** When the action is judged (ISO 8601); default: the file's `now`, else the present. */
    at: z.string().optional(),
    expect: z
      .object({
        rule: z.string().optional(),
        outcome: z.enum(["approve", "refuse", "error"]),
        count: z.number().int().optional(),
        users: z.array(z.string()).optional(),
        groups: z.array(z.string()).optional(),
        breakGlass: z.string().nullable().optional(),
      })
      .strict(),
  })
  .strict();
const casesSchema = z.object({ at: z.string().optional(), cases: z.array(caseSchema).min(1) }).strict();
type PolicyCase = z.infer<typeof caseSchema>;

function instant(text: string | undefined, where: string): Date {
  if (text === undefined) return new Date();
  const at = new Date(text);
  if (Number.isNaN(at.getTime()))
    throw new DeputyError("INPUT_INVALID", `${where}: "${text}" is not an ISO 8601 time`);
  return at;
}

function inputOf(policyCase: PolicyCase, at: Date): PolicyInput {
  const { action } = policyCase;
  return {
    action: {
      tool: action.tool,
      cluster: action.cluster,
      target: { kind: action.kind, namespace: action.namespace, name: action.name },
      risk: { level: action.risk, flags: action.flags.map((rule) => ({ rule })) },
      requester: { kind: "slack", id: policyCase.requester.id },
      conversation: { channel: policyCase.channel },
    },
    requesterGroups: policyCase.requester.groups,
    now: at,
  };
}

/** What differs between a verdict and a case's expectation; empty: it matches. */
function mismatches(verdict: PolicyVerdict, expected: PolicyCase["expect"]): string[] {
  const problems: string[] = [];
  if (verdict.kind !== expected.outcome) problems.push(`expected ${expected.outcome}, got ${verdict.kind}`);
  if (expected.rule !== undefined && verdict.rule !== expected.rule)
    problems.push(`expected rule "${expected.rule}", got "${verdict.rule}"`);
  if (verdict.kind !== "approve") return problems;
  if (expected.count !== undefined && verdict.required !== expected.count)
    problems.push(`expected ${expected.count} approvers, got ${verdict.required}`);
  const same = (a: readonly string[], b: readonly string[]): boolean =>
    [...a].sort().join(",") === [...b].sort().join(",");
  if (expected.users !== undefined && !same(verdict.approvers.users, expected.users))
    problems.push(
      `expected users [${expected.users.join(", ")}], got [${verdict.approvers.users.join(", ")}]`,
    );
  if (expected.groups !== undefined && !same(verdict.approvers.groups, expected.groups))
    problems.push(
      `expected groups [${expected.groups.join(", ")}], got [${verdict.approvers.groups.join(", ")}]`,
    );
  if (expected.breakGlass !== undefined && (verdict.breakGlass ?? null) !== expected.breakGlass)
    problems.push(
      `expected break-glass ${expected.breakGlass ?? "none"}, got ${verdict.breakGlass ?? "none"}`,
    );
  return problems;
}

function describeVerdict(verdict: PolicyVerdict, policy: ApprovalPolicy): string {
  if (verdict.kind !== "approve") return `${verdict.kind}: ${verdict.reason}`;
  const who = [
    ...verdict.approvers.users,
    ...verdict.approvers.groups.map((name) => `${name} (${policy.groups[name] ?? "?"})`),
  ];
  return [
    `approve: ${verdict.required} of ${who.join(", ")}`,
    verdict.requesterMayApprove ? "the requester may approve" : "never the requester",
    ...(verdict.requesterTeamMayApprove ? [] : ["nobody from the requester's own team"]),
    ...(verdict.breakGlass ? [`break-glass: ${verdict.breakGlass}`] : []),
  ].join("; ");
}

function readCases(path: string): z.infer<typeof casesSchema> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new DeputyError("INPUT_INVALID", `cannot read the cases file ${path}: ${describeError(error)}`);
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (error) {
    throw new DeputyError("INPUT_INVALID", `${path} is not YAML: ${describeError(error)}`);
  }
  const parsed = casesSchema.safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => `${issue.path.join(".") || "file"}: ${issue.message}`)
      .join("; ");
    throw new DeputyError("INPUT_INVALID", `${path} is not a cases file: ${problems}`);
  }
  return parsed.data;
}

function test(args: string[]): number {
  const [policyPath, casesPath, ...extra] = args;
  if (!policyPath || !casesPath || extra.length > 0) {
    process.stderr.write(USAGE);
    return 2;
  }
  const policy = loadApprovalPolicy(policyPath);
  const file = readCases(casesPath);
  let failed = 0;
  for (const policyCase of file.cases) {
    const at = instant(policyCase.at ?? file.at, `case "${policyCase.name}"`);
    const { verdict } = tracePolicy(policy, inputOf(policyCase, at));
    const problems = mismatches(verdict, policyCase.expect);
    if (problems.length === 0) {
      process.stdout.write(`ok    ${policyCase.name} (rule "${verdict.rule}")\n`);
      continue;
    }
    failed += 1;
    process.stdout.write(`FAIL  ${policyCase.name}: ${problems.join("; ")}\n`);
  }
  const total = file.cases.length;
  process.stdout.write(
    `${failed === 0 ? "PASS" : "FAIL"}: ${total - failed} of ${total} cases match ${policyPath} (sha256 ${policy.hash.slice(0, 12)})\n`,
  );
  return failed === 0 ? 0 : 1;
}

async function explain(args: string[]): Promise<number> {
  const actionId = args[0];
  if (!actionId || actionId.startsWith("--")) {
    process.stderr.write(USAGE);
    return 2;
  }
  const groups = (option(args, "--groups") ?? "")
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name.length > 0);
  const at = instant(option(args, "--at"), "--at");
  const config = parseConfig();
  const logger = createLogger({ level: "warn", name: "deputy-policy" });
  const policy = approvalPolicyFromConfig(config);
  const { loadKeysFromConfig } = await import("../../executor/wiring.ts");
  const { requireKey } = await import("../../core/identity/keys.ts");
  const { createActionStoreFromConfig } = await import("../../core/actions/store.ts");
  const keys = await loadKeysFromConfig({
    config,
    role: config.openbao.authRole,
    purposes: ["action"],
    component: "deputy policy explain",
    logger,
  });
  const redis = await connectRedisForCommand(config, "deputy policy explain", logger);
  try {
    const store = createActionStoreFromConfig(
      config,
      redis,
      requireKey(keys, "action", "deputy policy explain"),
    );
    const action = await store.get(actionId);
    if (!action) throw new DeputyError("NOT_FOUND", `There is no stored action with id ${actionId}.`);
    const unknown = groups.filter((name) => !(name in policy.groups));
    if (unknown.length > 0)
      throw new DeputyError("INPUT_INVALID", `--groups names undeclared groups: ${unknown.join(", ")}`);
    const trace = tracePolicy(policy, { action, requesterGroups: groups, now: at });
    const out = [
      `Action ${action.id}: ${action.tool} on ${action.target.kind} ${action.target.namespace ? `${action.target.namespace}/` : ""}${action.target.name} in cluster ${action.cluster}, ${action.risk.level} risk, requested by ${action.requester.id}; ${action.state}.`,
      `Policy ${policy.source} (sha256 ${policy.hash.slice(0, 12)}), judged at ${at.toISOString()} in ${policy.timeZone}, requester groups: ${groups.join(", ") || "none given"}.`,
      ...trace.looked.map(
        (step) =>
          `  ${step.held === true ? "MATCH" : step.held === "error" ? "ERROR" : "no   "}  ${step.rule}${step.line ? ` (line ${step.line})` : ""}: ${step.when}`,
      ),
      `Rule "${trace.verdict.rule}": ${describeVerdict(trace.verdict, policy)}`,
    ];
    process.stdout.write(`${out.join("\n")}\n`);
    return 0;
  } finally {
    redis.disconnect();
  }
}

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === "--help" || sub === "-h") {
    process.stdout.write(USAGE);
    return 0;
  }
  if (sub === "test") return test(rest);
  if (sub === "explain") return explain(rest);
  process.stderr.write(
    `deputy policy: ${sub ? `unknown subcommand "${sub}"` : "a subcommand is needed"}\n\n${USAGE}`,
  );
  return 2;
}
