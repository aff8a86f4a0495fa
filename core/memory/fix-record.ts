import { z } from "zod";
import { identitySchema, type Identity } from "../identity/identity.ts";
import { REDACTED, redactValue } from "../untrusted/redact.ts";

/**
 * What Deputy remembers of a fix: only its own structured facts — the
 * workload, the diagnosis rule and the facts that name the cause, the change
 * that was approved and ran, who asked and who approved, when, and what
 * Deputy verified afterwards. Never free text from the cluster or the model:
 * every string here is a name, a rule id, a quantity or an identifier, and
 * the schema refuses anything else, so a record read back from Redis cannot
 * carry instructions or prose into a thread or the model's context.
 */

/** A name, rule id, reason, quantity or image: the characters `safe()` keeps. */
const fact = z.union([
  z
    .string()
    .max(200)
    .regex(/^[A-Za-z0-9._:/@+=,-]*$/),
  z.number().finite(),
  z.boolean(),
]);
const ruleId = z
  .string()
  .max(64)
  .regex(/^[a-z][a-z0-9-]*$/);
const k8sName = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
const kindName = z
  .string()
  .max(64)
  .regex(/^[A-Z][A-Za-z]*$/);

/** The finding that named the cause: the rule and its facts (no summary, no evidence). */
export const causeSchema = z.strictObject({
  rule: ruleId,
  /** What makes two diagnoses the same cause (causeKey): rule and the fact that names it. */
  key: z
    .string()
    .max(128)
    .regex(/^[a-z][a-z0-9-]*(:[A-Za-z0-9._-]+)?$/),
  facts: z.record(z.string().max(64), fact),
});
export type Cause = z.infer<typeof causeSchema>;

/** What ran, as a proposal can be made again: the write tool and its input besides the target. */
export const changeSchema = z.strictObject({
  tool: z
    .string()
    .max(64)
    .regex(/^[a-z][a-z_]*$/),
  input: z.record(z.string(), z.unknown()),
});
export type RememberedChange = z.infer<typeof changeSchema>;

export const FIX_RESULTS = ["healthy", "stuck", "unverified", "failed"] as const;
export type FixResult = (typeof FIX_RESULTS)[number];

const time = z.iso.datetime({ offset: true });

export const fixRecordSchema = z.strictObject({
  v: z.literal(1),
  /** The executed action's id: one record per action. */
  id: z.string().regex(/^act_[A-Za-z0-9_-]{20,128}$/),
  cluster: z
    .string()
    .max(63)
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/),
  namespace: k8sName,
  workload: z.strictObject({ kind: kindName, name: k8sName }),
  /** Undefined: nothing in the thread diagnosed this workload before the change. */
  cause: causeSchema.optional(),
  change: changeSchema,
  requester: identitySchema,
  approver: identitySchema.optional(),
  proposedAt: time,
  approvedAt: time.optional(),
  ranAt: time,
  result: z.enum(FIX_RESULTS),
  /** Seconds from the run to Deputy's verdict. */
  verifiedSeconds: z.number().int().min(0).optional(),
  /** Set when an approved undo of this change ran. */
  undone: z.strictObject({ at: time, by: z.string().regex(/^act_[A-Za-z0-9_-]{20,128}$/) }).optional(),
  thread: z.strictObject({
    channel: z.string().regex(/^[A-Z0-9]{1,32}$/),
    ts: z.string().regex(/^\d{1,12}\.\d{1,8}$/),
    teamId: z
      .string()
      .regex(/^[A-Z0-9]{1,32}$/)
      .optional(),
    /** Slack's permalink of the thread, as chat.getPermalink answered it. */
    link: z
      .string()
      .max(300)
      .regex(/^https:\/\/[A-Za-z0-9.-]+\/archives\/[A-Z0-9]+\/p\d+(\?[A-Za-z0-9=&._-]*)?$/)
      .optional(),
  }),
  recordedAt: time,
});
export type FixRecord = z.infer<typeof fixRecordSchema>;

/** A fix that did its job: verified healthy and not undone since. */
export function worked(record: FixRecord): boolean {
  return record.result === "healthy" && !record.undone;
}

/** "worked", or why not: "undone", "stuck", "failed", "unverified". */
export function verdictOf(record: FixRecord): "worked" | "undone" | Exclude<FixResult, "healthy"> {
  if (record.undone) return "undone";
  switch (record.result) {
    case "healthy":
      return "worked";
    default:
      return record.result;
  }
}

// --- causes --------------------------------------------------------------------

/** Facts worth keeping per rule: the ones that name the cause, never counters that change. */
const CAUSE_FACTS: Record<string, readonly string[]> = {
  "crash-loop": ["container", "cause", "exitCode", "reason"],
  "oom-killed": ["container", "memoryLimit", "memoryRequest"],
  "image-pull": ["container", "cause", "image", "reason"],
  "container-config": ["container", "reason"],
  exited: ["container", "exitCode", "reason"],
  unschedulable: ["reason"],
  evicted: [],
  "probe-failing": ["container"],
};

/** The fact that sets a cause apart within its rule (the crash's class, the pull error's). */
const KEY_FACT: Record<string, string> = {
  "crash-loop": "cause",
  "image-pull": "cause",
  "container-config": "reason",
  unschedulable: "reason",
};

/** Rules that are no cause of their own: nothing to remember a fix by. */
const NOT_A_CAUSE = new Set(["healthy", "completed", "unknown", "terminating", "restarted", "not-ready"]);

/**
 * A finding as a remembered cause, or undefined when it names none. Only
 * known facts of known shape are kept: a fact that is free text (or does not
 * look like a name or a quantity) is dropped, not stored.
 */
export function causeOf(finding: { rule?: unknown; facts?: unknown }): Cause | undefined {
  const rule = ruleId.safeParse(finding.rule);
  if (!rule.success || NOT_A_CAUSE.has(rule.data)) return undefined;
  const given =
    finding.facts !== null && typeof finding.facts === "object"
      ? (finding.facts as Record<string, unknown>)
      : {};
  const facts: Record<string, string | number | boolean> = {};
  for (const name of CAUSE_FACTS[rule.data] ?? []) {
    const value = fact.safeParse(given[name]);
    if (value.success && value.data !== "") facts[name] = value.data;
  }
  const keyFact = KEY_FACT[rule.data];
  const distinguishing = keyFact === undefined ? undefined : facts[keyFact];
  const part =
    typeof distinguishing === "string" && /^[A-Za-z0-9._-]{1,64}$/.test(distinguishing)
      ? `:${distinguishing}`
      : "";
  return { rule: rule.data, key: `${rule.data}${part}`, facts };
}

/** "a crash loop (a missing configuration setting)", in Deputy's words. */
export function describeCause(cause: Cause): string {
  const container = typeof cause.facts.container === "string" ? ` of ${cause.facts.container}` : "";
  switch (cause.rule) {
    case "crash-loop":
      return `a crash loop${container}${typeof cause.facts.cause === "string" ? ` (${CRASH_CAUSE_WORDS[cause.facts.cause] ?? cause.facts.cause})` : ""}`;
    case "oom-killed":
      return `OOMKilled${container}${typeof cause.facts.memoryLimit === "string" ? ` at a ${cause.facts.memoryLimit} limit` : ""}`;
    case "image-pull":
      return `an image that cannot be pulled${typeof cause.facts.image === "string" ? ` (${cause.facts.image})` : ""}`;
    default:
      return `${cause.rule}${container}`;
  }
}

/**
 * The crash classes of mcp/diagnose/pod-text.ts's classifyCrash, as ids (the
 * fact the crash-loop rule reports) and the words Deputy says for them.
 */
export const CRASH_CAUSE_WORDS: Record<string, string> = {
  "missing-config": "a missing configuration setting",
  "connection-refused": "a refused connection to a dependency",
  "host-not-found": "a host name that does not resolve",
  timeout: "a timeout reaching a dependency",
  "permission-denied": "a permission or authentication error",
  "out-of-memory": "running out of memory",
  "port-in-use": "a port already in use",
  "missing-file": "a missing file",
  "program-crash": "a crash in the program itself",
};

// --- changes -------------------------------------------------------------------

/**
 * The change an executed action made, as the input its write tool takes
 * (besides namespace and name), for the tools whose change still means the
 * same thing on the object as it is now; undefined for the others (a pod's
 * eviction names a pod that is gone, a rollback's revision an older state).
 * Values that look secret are redacted: such a change is remembered but
 * cannot be proposed again from memory.
 */
export function changeOf(tool: string, args: Record<string, unknown>): RememberedChange {
  const pick = (...names: string[]): Record<string, unknown> =>
    Object.fromEntries(names.filter((name) => args[name] !== undefined).map((name) => [name, args[name]]));
  const input: Record<string, unknown> = (() => {
    switch (tool) {
      case "set_deployment_env":
        return pick("container", "set", "remove");
      case "set_deployment_image":
        return pick("container", "image");
      case "set_deployment_resources":
        return pick("container", "requests", "limits");
      case "scale_deployment":
        return pick("replicas");
      default:
        return {};
    }
  })();
  return { tool, input: redactValue(input) };
}

/** Tools whose remembered change can be proposed again on the workload as it is now. */
const PROPOSABLE = new Set([
  "set_deployment_env",
  "set_deployment_image",
  "set_deployment_resources",
  "scale_deployment",
  "restart_deployment",
  "rollback_deployment",
]);

/** Why this change cannot be proposed again from memory, or undefined. */
export function cannotProposeAgain(change: RememberedChange, workloadKind: string): string | undefined {
  if (!PROPOSABLE.has(change.tool)) return `${change.tool} is not proposed again from memory`;
  if (workloadKind !== "Deployment") return `${change.tool} changes a Deployment, not a ${workloadKind}`;
  if (JSON.stringify(change.input).includes(REDACTED))
    return "a value of that change looked like a secret and was not remembered";
  return undefined;
}

/** The write tool's full input for the same change on another (or the same) Deployment. */
export function proposalInput(
  change: RememberedChange,
  target: { namespace: string; name: string },
): Record<string, unknown> {
  return { namespace: target.namespace, name: target.name, ...change.input };
}

const list = (names: readonly string[]): string =>
  names.length <= 1 ? (names[0] ?? "") : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;

/** "setting PAYMENT_GATEWAY_URL", in Deputy's words, from the remembered change. */
export function describeChange(change: RememberedChange): string {
  const input = change.input;
  const keys = (value: unknown): string[] =>
    value !== null && typeof value === "object" && !Array.isArray(value) ? Object.keys(value) : [];
  switch (change.tool) {
    case "set_deployment_env": {
      const set = keys(input.set);
      const removed = Array.isArray(input.remove) ? input.remove.map(String) : [];
      return [
        set.length > 0 ? `setting ${list(set)}` : "",
        removed.length > 0 ? `removing ${list(removed)}` : "",
      ]
        .filter(Boolean)
        .join(" and ");
    }
    case "set_deployment_image":
      return `setting the image of ${String(input.container)} to ${String(input.image)}`;
    case "set_deployment_resources": {
      const parts = (["requests", "limits"] as const).flatMap((kind) =>
        keys(input[kind]).map(
          (resource) =>
            `the ${resource} ${kind === "limits" ? "limit" : "request"} to ${String((input[kind] as Record<string, unknown>)[resource])}`,
        ),
      );
      return `setting ${list(parts)} on ${String(input.container)}`;
    }
    case "scale_deployment":
      return `scaling to ${String(input.replicas)} replica(s)`;
    case "restart_deployment":
      return "a rolling restart";
    case "rollback_deployment":
      return "a rollback to the previous revision";
    case "delete_pod":
      return "evicting the pod";
    default:
      return change.tool;
  }
}

/** Two records are the same fix when they ran the same tool on the same keys (values may differ). */
export function fixSignature(change: RememberedChange): string {
  const input = change.input;
  const keys = (value: unknown): string =>
    value !== null && typeof value === "object" ? Object.keys(value).sort().join(",") : String(value ?? "");
  switch (change.tool) {
    case "set_deployment_env":
      return `${change.tool}|${keys(input.set)}|${keys(input.remove)}`;
    case "set_deployment_image":
    case "set_deployment_resources":
      return `${change.tool}|${String(input.container)}`;
    default:
      return change.tool;
  }
}

/** Whoever the identity is, as a Slack mention or a local name. */
export function personOf(identity: Identity | undefined): string {
  if (!identity) return "someone";
  const id = /^[A-Za-z0-9._-]{1,64}$/.test(identity.id) ? identity.id : "someone";
  return identity.kind === "slack" && /^[UW][A-Z0-9]+$/.test(id) ? `<@${id}>` : id;
}
