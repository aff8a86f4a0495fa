import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { Environment, type ParseResult } from "@marcbachmann/cel-js";
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type YAMLMap } from "yaml";
import type { Config } from "../config/config.ts";
import { DeputyError, describeError } from "../errors.ts";
import type { Logger } from "../observability/logger.ts";
import { slackUserIdOf, type Identity } from "../identity/identity.ts";

/**
 * Who may approve what, where, how many, and when: an ordered list of rules,
 * each a CEL condition (`when`) over the action, the requester, the channel
 * and the time, and an outcome: who may approve (Slack users, Slack user
 * groups), how many distinct approvers, whether the requester or their own
 * team may, an optional break-glass group; or a refusal with a reason. The
 * first rule whose condition holds decides; no rule matching refuses.
 *
 * A policy is parsed and type-checked whole before a component starts: any
 * problem is a sentence naming the file, the line and the reason. An error
 * while evaluating a condition is a refusal, never an approval. Without a
 * policy file, `defaultApprovalPolicy` states today's settings as rules.
 */

export interface ApproverSet {
  /** Slack user ids (`U…`; a `T…:U…` entry counts as its user id) or `local:<id>` in local mode. */
  users: readonly string[];
  /** Declared group names (keys of `ApprovalPolicy.groups`). */
  groups: readonly string[];
}

export type RuleOutcome =
  | { kind: "refuse"; reason: string }
  | {
      kind: "approve";
      approvers: ApproverSet;
      /** Distinct approvers needed. */
      required: number;
      /** The requester's own approval counts (only with `required: 1`). */
      requesterMayApprove: boolean;
      /** Members of a team the requester is in may approve. */
      requesterTeamMayApprove: boolean;
      /** A group one member of which may approve alone, with a typed reason. */
      breakGlass: string | undefined;
    };

export interface PolicyRule {
  name: string;
  /** The line of the rule in its file (0 for the built-in policy). */
  line: number;
  when: string;
  condition: ParseResult;
  outcome: RuleOutcome;
}

export interface ApprovalPolicy {
  /** The file it was read from, or "built-in default". */
  source: string;
  /** sha256 of the file's text (or of the built-in policy's rules): recorded with every decision. */
  hash: string;
  timeZone: string;
  /** Declared name → Slack user group id. */
  groups: Readonly<Record<string, string>>;
  /** Group names that are teams ("the requester's own team"). */
  teams: readonly string[];
  rules: readonly PolicyRule[];
}

/** What a policy is evaluated on: the stored, verified action and the facts of the moment. */
export interface PolicyInput {
  action: {
    tool: string;
    cluster: string;
    target: { kind: string; namespace?: string | undefined; name: string };
    risk: { level: string; flags: readonly { rule: string }[] };
    requester: Identity;
    conversation?: { channel: string } | undefined;
  };
  /** Names of the declared groups the requester is in, judged now. */
  requesterGroups: readonly string[];
  now: Date;
}

export type PolicyVerdict =
  | ({ kind: "approve"; rule: string } & Extract<RuleOutcome, { kind: "approve" }>)
  | { kind: "refuse"; rule: string; reason: string }
  /** A condition failed to evaluate: fail closed. */
  | { kind: "error"; rule: string; reason: string };

const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"] as const;
const MAX_RULES = 500;
const MAX_GROUPS = 20;

function celEnvironment(): Environment {
  return new Environment({ unlistedVariablesAreDyn: false })
    .registerType("Action", {
      fields: {
        tool: "string",
        cluster: "string",
        namespace: "string",
        kind: "string",
        name: "string",
        risk: "string",
        flags: "list<string>",
      },
    })
    .registerType("Requester", { fields: { id: "string", groups: "list<string>" } })
    .registerType("Time", {
      fields: { weekday: "string", hour: "int", minute: "int", date: "string" },
    })
    .registerVariable("action", "Action")
    .registerVariable("requester", "Requester")
    .registerVariable("channel", "string")
    .registerVariable("time", "Time");
}

/** The variables a condition sees: the names and types the type checker knows. */
export const POLICY_VARIABLES = {
  "action.tool": "string: the action type, e.g. restart_deployment, drain_node",
  "action.cluster": "string: the cluster it runs in",
  "action.namespace": 'string: the target\'s namespace ("" for nodes)',
  "action.kind": "string: the target's kind, e.g. Deployment, Pod, Node",
  "action.name": "string: the target's name",
  "action.risk": 'string: "normal" or "high"',
  "action.flags": "list<string>: the risk flags' rule ids, e.g. statefulset-pod",
  "requester.id": "string: the requester's Slack user id",
  "requester.groups": "list<string>: the declared groups the requester is in (judged at the click)",
  channel: 'string: the Slack channel id of the conversation ("" when none)',
  "time.weekday": "string: Mon … Sun in the policy's time zone",
  "time.hour": "int: 0–23 in the policy's time zone",
  "time.minute": "int: 0–59",
  "time.date": "string: YYYY-MM-DD in the policy's time zone",
} as const;

const environment = celEnvironment();

function timeIn(
  timeZone: string,
): (now: Date) => { weekday: string; hour: bigint; minute: bigint; date: string } {
  const format = new Intl.DateTimeFormat("en-US", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
    weekday: "short",
  });
  return (now) => {
    const parts = Object.fromEntries(format.formatToParts(now).map((part) => [part.type, part.value]));
    return {
      weekday: WEEKDAYS.find((day) => day === parts.weekday) ?? String(parts.weekday),
      hour: BigInt(Number(parts.hour)),
      minute: BigInt(Number(parts.minute)),
      date: `${parts.year}-${parts.month}-${parts.day}`,
    };
  };
}

const clocks = new Map<string, ReturnType<typeof timeIn>>();
function clockOf(timeZone: string): ReturnType<typeof timeIn> {
  let clock = clocks.get(timeZone);
  if (!clock) {
    clock = timeIn(timeZone);
    clocks.set(timeZone, clock);
  }
  return clock;
}

/** Each rule looked at, in order, until one decided: what `deputy policy explain` prints. */
export interface PolicyTrace {
  verdict: PolicyVerdict;
  looked: { rule: string; line: number; when: string; held: boolean | "error" }[];
}

/** The first rule whose condition holds, as a verdict; no rule matching refuses. */
export function evaluatePolicy(policy: ApprovalPolicy, input: PolicyInput): PolicyVerdict {
  return tracePolicy(policy, input).verdict;
}

/** evaluatePolicy, with the rules it looked at and what each condition said. */
export function tracePolicy(policy: ApprovalPolicy, input: PolicyInput): PolicyTrace {
  const looked: PolicyTrace["looked"] = [];
  const { action } = input;
  const context = {
    action: {
      tool: action.tool,
      cluster: action.cluster,
      namespace: action.target.namespace ?? "",
      kind: action.target.kind,
      name: action.target.name,
      risk: action.risk.level,
      flags: action.risk.flags.map((flag) => flag.rule),
    },
    requester: { id: action.requester.id, groups: [...input.requesterGroups] },
    channel: action.conversation?.channel ?? "",
    time: clockOf(policy.timeZone)(input.now),
  };
  for (const rule of policy.rules) {
    let holds: unknown;
    try {
      holds = rule.condition(context);
    } catch (error) {
      looked.push({ rule: rule.name, line: rule.line, when: rule.when, held: "error" });
      return {
        looked,
        verdict: {
          kind: "error",
          rule: rule.name,
          reason: `The approval policy's rule "${rule.name}" could not be evaluated (${celMessage(error)}), so it cannot say who may approve; nothing was run.`,
        },
      };
    }
    looked.push({ rule: rule.name, line: rule.line, when: rule.when, held: holds === true });
    if (holds !== true) continue;
    if (rule.outcome.kind === "refuse")
      return { looked, verdict: { kind: "refuse", rule: rule.name, reason: rule.outcome.reason } };
    return { looked, verdict: { rule: rule.name, ...rule.outcome } };
  }
  return {
    looked,
    verdict: {
      kind: "refuse",
      rule: "no-rule",
      reason: "No rule of the approval policy covers this action, so nobody may approve it.",
    },
  };
}

/** The group ids a policy names, for the caller that vouches for membership. */
export function policyGroupIds(policy: ApprovalPolicy): string[] {
  return [...new Set(Object.values(policy.groups))];
}

/** Whether `identity` is one of the users an approver set names. */
export function namesUser(users: readonly string[], identity: Identity): boolean {
  return users.some((entry) =>
    identity.kind === "local"
      ? entry === `local:${identity.id}`
      : !entry.startsWith("local:") && slackUserIdOf(entry) === identity.id,
  );
}

function celMessage(error: unknown): string {
  const summary = (error as { summary?: unknown } | null)?.summary;
  const text = typeof summary === "string" && summary ? summary : describeError(error);
  return text.split("\n")[0]!.trim();
}

/** One problem in a policy file: "file:line: reason". */
class PolicyProblem extends Error {}

function policyHash(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/**
 * Parse and type-check a policy. Throws a CONFIG_INVALID DeputyError naming
 * the source, the line and the reason: a component with a bad policy does not start.
 */
export function parseApprovalPolicy(text: string, source: string): ApprovalPolicy {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const lineOf = (node: Node | null | undefined): number =>
    node?.range ? lines.linePos(node.range[0]).line : 1;
  const fail = (node: Node | null | undefined, reason: string): never => {
    throw new PolicyProblem(`${source}:${lineOf(node)}: ${reason}`);
  };
  try {
    const yamlError = doc.errors[0];
    if (yamlError) {
      const line = yamlError.linePos?.[0].line ?? lines.linePos(yamlError.pos[0]).line;
      throw new PolicyProblem(`${source}:${line}: ${yamlError.message.split("\n")[0]}`);
    }
    const root = doc.contents;
    if (!isMap(root)) return fail(root, "the policy must be a mapping with version, groups and rules");
    const known = (map: YAMLMap, allowed: readonly string[], where: string): void => {
      for (const pair of map.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : "";
        if (!allowed.includes(key))
          fail(pair.key as Node, `${where}: unknown key "${key}" (expected ${allowed.join(", ")})`);
      }
    };
    known(root, ["version", "timeZone", "groups", "teams", "rules"], "policy");
    const version = root.get("version", true) as Node | undefined;
    if (!isScalar(version) || version.value !== 1) fail(version ?? root, "version must be 1");
    const zoneNode = root.get("timeZone", true) as Node | undefined;
    const timeZone = zoneNode === undefined ? "UTC" : isScalar(zoneNode) ? String(zoneNode.value) : "";
    try {
      new Intl.DateTimeFormat("en-US", { timeZone });
    } catch {
      fail(zoneNode, `timeZone "${timeZone}" is not a time zone name (e.g. Europe/Berlin, UTC)`);
    }
    const groups: Record<string, string> = {};
    const groupsNode = root.get("groups", true) as Node | undefined;
    if (groupsNode !== undefined) {
      if (!isMap(groupsNode)) fail(groupsNode, "groups must map names to Slack user group ids");
      for (const pair of (groupsNode as YAMLMap).items) {
        const name = isScalar(pair.key) ? String(pair.key.value) : "";
        const value = pair.value as Node | null;
        const id = isScalar(value) ? String(value.value) : "";
        if (!/^[a-z][a-z0-9_-]{0,62}$/.test(name))
          fail(pair.key as Node, `group name "${name}" must be lower-case letters, digits, - or _`);
        if (!/^S[A-Z0-9]{2,20}$/.test(id))
          fail(value, `group ${name}: "${id}" is not a Slack user group id (S…)`);
        groups[name] = id;
      }
      if (Object.keys(groups).length > MAX_GROUPS)
        fail(groupsNode, `at most ${MAX_GROUPS} groups may be declared`);
    }
    const groupName = (node: Node | null | undefined, where: string): string => {
      const name = isScalar(node) ? String(node.value) : "";
      if (!(name in groups))
        fail(
          node,
          `${where}: "${name}" is not a declared group (declared: ${Object.keys(groups).join(", ") || "none"})`,
        );
      return name;
    };
    const list = (node: Node | null | undefined, where: string): Node[] => {
      if (node === undefined || node === null) return [];
      if (!isSeq(node)) return fail(node, `${where} must be a list`);
      return node.items as Node[];
    };
    const teams = list(root.get("teams", true) as Node | undefined, "teams").map((node) =>
      groupName(node, "teams"),
    );
    const rulesNode = root.get("rules", true) as Node | undefined;
    const ruleNodes = list(rulesNode, "rules");
    if (ruleNodes.length === 0) fail(rulesNode ?? root, "rules must list at least one rule");
    if (ruleNodes.length > MAX_RULES) fail(rulesNode, `at most ${MAX_RULES} rules`);
    const names = new Set<string>();
    const rules = ruleNodes.map((node): PolicyRule => {
      if (!isMap(node))
        return fail(node, "each rule must be a mapping with name, when and approve or refuse");
      known(node, ["name", "when", "approve", "refuse"], "rule");
      const nameNode = node.get("name", true);
      const name = isScalar(nameNode) ? String(nameNode.value) : "";
      if (!/^[A-Za-z0-9][A-Za-z0-9 _.-]{0,79}$/.test(name))
        fail(nameNode ?? node, "each rule needs a name (letters, digits, spaces, . _ -; at most 80)");
      if (names.has(name)) fail(nameNode, `two rules are named "${name}"`);
      names.add(name);
      const whenNode = node.get("when", true);
      const when = isScalar(whenNode) ? String(whenNode.value) : "";
      if (!when.trim())
        fail(whenNode ?? node, `rule "${name}": when must be a CEL condition (use "true" for every action)`);
      let condition: ParseResult;
      try {
        condition = environment.parse(when);
      } catch (error) {
        return fail(whenNode, `rule "${name}": when does not parse: ${celMessage(error)}`);
      }
      const checked = condition.check();
      if (!checked.valid)
        fail(whenNode, `rule "${name}": when does not type-check: ${celMessage(checked.error)}`);
      if (checked.type !== "bool")
        fail(whenNode, `rule "${name}": when must be a bool condition, but it is ${checked.type}`);
      const approveNode = node.get("approve", true) as Node | undefined;
      const refuseNode = node.get("refuse", true) as Node | undefined;
      if ((approveNode === undefined) === (refuseNode === undefined))
        fail(node, `rule "${name}" must have exactly one of approve and refuse`);
      if (refuseNode !== undefined) {
        const reason = isScalar(refuseNode) ? String(refuseNode.value).trim() : "";
        if (!reason) fail(refuseNode, `rule "${name}": refuse must be the reason shown on the card`);
        return { name, line: lineOf(node), when, condition, outcome: { kind: "refuse", reason } };
      }
      if (!isMap(approveNode)) return fail(approveNode, `rule "${name}": approve must be a mapping`);
      known(
        approveNode,
        ["users", "groups", "count", "requester", "requesterTeam", "breakGlass"],
        `rule "${name}": approve`,
      );
      const users = list(approveNode.get("users", true) as Node | undefined, `rule "${name}": users`).map(
        (user) => {
          const id = isScalar(user) ? String(user.value) : "";
          if (!/^(([TE][A-Z0-9]+:)?[UW][A-Z0-9_]{1,30}|local:[a-z0-9][a-z0-9._-]{0,62})$/i.test(id))
            fail(user, `rule "${name}": "${id}" is not a Slack user id (U…)`);
          return id;
        },
      );
      const approverGroups = list(
        approveNode.get("groups", true) as Node | undefined,
        `rule "${name}": groups`,
      ).map((group) => groupName(group, `rule "${name}": groups`));
      if (users.length === 0 && approverGroups.length === 0)
        fail(approveNode, `rule "${name}": approve names nobody (give users or groups)`);
      const countNode = approveNode.get("count", true) as Node | undefined;
      const required = countNode === undefined ? 1 : isScalar(countNode) ? Number(countNode.value) : NaN;
      if (!Number.isInteger(required) || required < 1 || required > 10)
        fail(countNode, `rule "${name}": count must be a whole number from 1 to 10`);
      const flag = (key: string, fallback: boolean): boolean => {
        const value = approveNode.get(key, true) as Node | undefined;
        if (value === undefined) return fallback;
        if (!isScalar(value) || typeof value.value !== "boolean")
          return fail(value, `rule "${name}": ${key} must be true or false`);
        return value.value;
      };
      const requesterMayApprove = flag("requester", false);
      if (requesterMayApprove && required > 1)
        fail(approveNode, `rule "${name}": the requester never counts towards more than one approval`);
      const breakGlassNode = approveNode.get("breakGlass", true) as Node | undefined;
      return {
        name,
        line: lineOf(node),
        when,
        condition,
        outcome: {
          kind: "approve",
          approvers: { users, groups: approverGroups },
          required,
          requesterMayApprove,
          requesterTeamMayApprove: flag("requesterTeam", true),
          breakGlass:
            breakGlassNode === undefined
              ? undefined
              : groupName(breakGlassNode, `rule "${name}": breakGlass`),
        },
      };
    });
    return { source, hash: policyHash(text), timeZone, groups, teams, rules };
  } catch (error) {
    if (error instanceof PolicyProblem)
      throw new DeputyError("CONFIG_INVALID", `The approval policy is invalid: ${error.message}`);
    throw error;
  }
}

/** Read and check the policy file DEPUTY_APPROVAL_POLICY names. */
export function loadApprovalPolicy(path: string): ApprovalPolicy {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new DeputyError(
      "CONFIG_INVALID",
      `The approval policy ${path} (DEPUTY_APPROVAL_POLICY) cannot be read: ${describeError(error)}`,
    );
  }
  return parseApprovalPolicy(text, path);
}

export interface DefaultPolicySettings {
  /** DEPUTY_APPROVERS. */
  approvers: readonly string[];
  /** DEPUTY_APPROVER_GROUP. */
  group: string | undefined;
  /** DEPUTY_TWO_PERSON_RULE and DEPUTY_TWO_PERSON_RULE_HIGH_RISK. */
  twoPersonRule: { normal: boolean; high: boolean };
  /** Local mode's approvers (DEPUTY_LOCAL_USERS), as `local:<id>`. */
  localApproverIds?: readonly string[];
}

const DEFAULT_GROUP = "approvers";
/** The source of the policy built from today's settings (no DEPUTY_APPROVAL_POLICY). */
export const DEFAULT_POLICY_SOURCE = "built-in default";

/**
 * Today's settings as a policy: anyone on the approver list or in the
 * approver group approves alone; the requester may approve their own action
 * only where the two-person rule is off for its risk level.
 */
export function defaultApprovalPolicy(settings: DefaultPolicySettings): ApprovalPolicy {
  const groups: Record<string, string> = settings.group ? { [DEFAULT_GROUP]: settings.group } : {};
  const approvers: ApproverSet = {
    users: [
      ...settings.approvers.map((entry) => slackUserIdOf(entry)),
      ...(settings.localApproverIds ?? []).map((id) => `local:${id}`),
    ],
    groups: settings.group ? [DEFAULT_GROUP] : [],
  };
  const rule = (name: string, when: string, requesterMayApprove: boolean): PolicyRule => ({
    name,
    line: 0,
    when,
    condition: environment.parse(when),
    outcome: {
      kind: "approve",
      approvers,
      required: 1,
      requesterMayApprove,
      requesterTeamMayApprove: true,
      breakGlass: undefined,
    },
  });
  const rules = [
    rule("default-high-risk", 'action.risk == "high"', !settings.twoPersonRule.high),
    rule("default", "true", !settings.twoPersonRule.normal),
  ];
  const described = JSON.stringify({
    groups,
    rules: rules.map(({ name, when, outcome }) => ({ name, when, outcome })),
  });
  return {
    source: "built-in default",
    hash: policyHash(described),
    timeZone: "UTC",
    groups,
    teams: [],
    rules,
  };
}

/** Who may approve, for a person: "@alice, @sre" style Slack mentions (plain ids where no mention fits). */
export function approverMentions(policy: ApprovalPolicy, approvers: ApproverSet): string[] {
  return [
    ...approvers.users.map((user) =>
      user.startsWith("local:") ? user.slice(6) : `<@${slackUserIdOf(user)}>`,
    ),
    ...approvers.groups.map((name) => {
      const id = policy.groups[name];
      return id ? `<!subteam^${id}>` : name;
    }),
  ];
}

/**
 * The policy a component enforces or shows: DEPUTY_APPROVAL_POLICY's file,
 * or today's settings as rules. Read once at start-up; its hash is logged so
 * that a changed policy is visible, and every decision records it.
 */
export function approvalPolicyFromConfig(
  config: Pick<Config, "approvals">,
  options: { localApproverIds?: readonly string[]; logger?: Logger } = {},
): ApprovalPolicy {
  const { approvals } = config;
  const policy = approvals.policyFile
    ? loadApprovalPolicy(approvals.policyFile)
    : defaultApprovalPolicy({
        approvers: approvals.approvers,
        group: approvals.approverGroup,
        twoPersonRule: { normal: approvals.twoPersonRule, high: approvals.twoPersonRuleHighRisk },
        localApproverIds: options.localApproverIds ?? [],
      });
  options.logger?.info(
    { policy: { source: policy.source, hash: policy.hash, rules: policy.rules.length } },
    `approval policy ${policy.source} (sha256 ${policy.hash.slice(0, 12)}, ${policy.rules.length} rules)`,
  );
  return policy;
}
