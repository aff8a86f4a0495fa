import { DeputyError } from "../core/errors.ts";
import { tokenize } from "../core/untrusted/tokenize.ts";

/**
 * `/deputy <verb> …` commands that need no model: each maps to one of the same
 * MCP tools the agent uses, so writes still become pending actions and go
 * through the same approval path. Anything that is not a known verb is a
 * question for the agent. Shared by the Slack slash command and the console.
 */
export type DirectCommand =
  | { kind: "tool"; tool: string; arguments: Record<string, unknown>; text: string }
  | { kind: "help"; text: string }
  /** `logs … --full`: the whole (bounded, redacted) log uploaded as a file, not shown in the thread. */
  | { kind: "log_file"; arguments: { namespace: string; pod: string; container?: string; previous: boolean } }
  /** `history <namespace>/<workload>`: the fixes Deputy remembers for a workload. */
  | { kind: "history"; arguments: { namespace: string; workload: string } }
  /** `timeline [<thread link>]`: the thread's timeline as a message and a Markdown file. */
  | { kind: "timeline"; thread: { channel: string; ts: string } | undefined }
  | { kind: "ask"; prompt: string };

interface Parsed {
  positionals: string[];
  flags: Map<string, string | true>;
}

interface Verb {
  usage: string;
  summary: string;
  /** Canonical flag names this verb accepts; anything else is a usage error. */
  flags: readonly string[];
  build: (parsed: Parsed) => { tool: string; arguments: Record<string, unknown> };
}

/** Not an MCP tool: the log file is read as an MCP resource and uploaded by the bot. */
const LOG_FILE = "log_file";
/** Not MCP tools: the bot answers these from its own records. */
const HISTORY = "history";
const TIMELINE = "timeline";

/** A Slack message link: https://<workspace>.slack.com/archives/<channel>/p<ts without the dot>. */
const THREAD_LINK =
  /^<?https:\/\/[A-Za-z0-9.-]+\/archives\/([A-Z0-9]+)\/p(\d{10})(\d{6})(?:\?[^\s>|]*)?(?:\|[^>]*)?>?$/;

const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

// Flags that take a value; everything else starting with "-" is a switch.
const VALUE_FLAGS = new Set([
  "--namespace",
  "--container",
  "--tail",
  "--since",
  "--grep",
  "--replicas",
  "--to-revision",
  "--limit",
]);
const FLAG_ALIASES: Record<string, string> = { "-n": "--namespace", "-c": "--container" };

function usageError(verb: Verb | undefined, problem: string): DeputyError {
  const usage = verb ? `Usage: /deputy ${verb.usage}` : "Try /deputy help.";
  return new DeputyError("INPUT_INVALID", `${problem}. ${usage}`);
}

/** The first word decides: a verb, kubectl, or a question (which may hold any punctuation). */
function firstWord(text: string): string {
  const word = /^\S+/.exec(text)?.[0] ?? "";
  return /^(["'])(.*)\1$/.exec(word)?.[2] ?? word;
}

/** A verb's arguments, split like a shell would (quotes group; an unterminated one is an error). */
function argumentsOf(text: string, verb: Verb): string[] {
  try {
    return tokenize(text, { unterminated: (quote) => `Unterminated ${quote} quote` }).slice(1);
  } catch (error) {
    throw usageError(verb, (error as Error).message);
  }
}

function parseArgs(tokens: string[], verb: Verb): Parsed {
  const positionals: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (!token.startsWith("-") || token === "-") {
      positionals.push(token);
      continue;
    }
    const [rawName, inline] = token.includes("=")
      ? [token.slice(0, token.indexOf("=")), token.slice(token.indexOf("=") + 1)]
      : [token, undefined];
    const name = FLAG_ALIASES[rawName] ?? (rawName === "-p" ? "--previous" : rawName);
    // Guardrail "no-force": never even parsed into arguments.
    if (name === "--force" || (name === "--grace-period" && (inline ?? tokens[i + 1]) === "0")) {
      throw new DeputyError(
        "POLICY_DENIED",
        `${rawName} is never allowed: Deputy does not force deletions or skip graceful termination (guardrail no-force)`,
      );
    }
    if (!verb.flags.includes(name)) throw usageError(verb, `Unknown option ${rawName}`);
    if (VALUE_FLAGS.has(name)) {
      const value = inline ?? tokens[++i];
      if (value === undefined || value === "") throw usageError(verb, `${rawName} needs a value`);
      flags.set(name, value);
    } else if (inline !== undefined) {
      flags.set(name, inline);
    } else {
      flags.set(name, true);
    }
  }
  return { positionals, flags };
}

function flag(parsed: Parsed, name: string): string | undefined {
  const value = parsed.flags.get(name);
  return typeof value === "string" ? value : undefined;
}

function checkNamespace(value: string, verb: Verb): string {
  if (!NAMESPACE.test(value)) throw usageError(verb, `"${value}" is not a valid namespace name`);
  return value;
}

function checkName(value: string, what: string, verb: Verb): string {
  if (!NAME.test(value)) throw usageError(verb, `"${value}" is not a valid ${what} name`);
  return value;
}

function positiveInt(
  value: string | undefined,
  what: string,
  verb: Verb,
  min = 0,
  max = 100000,
): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw usageError(verb, `${what} must be a whole number from ${min} to ${max}, not "${value}"`);
  }
  return Number(value);
}

function durationSeconds(value: string | undefined, verb: Verb): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+)(s|m|h)?$/.exec(value);
  if (!match) throw usageError(verb, `--since must look like 90s, 10m or 2h, not "${value}"`);
  const factor = match[2] === "h" ? 3600 : match[2] === "m" ? 60 : 1;
  return Number(match[1]) * factor;
}

/**
 * Resolve `ns/name`, `kind/name -n ns` or `name -n ns` into a target. `kinds`
 * are the accepted `kind/` prefixes; the first is the canonical one.
 */
function target(parsed: Parsed, verb: Verb, kinds: readonly string[]): { namespace: string; name: string } {
  const [first, ...extra] = parsed.positionals;
  if (!first) throw usageError(verb, "Missing the object to act on");
  if (extra.length > 0) throw usageError(verb, `Unexpected "${extra.join(" ")}"`);
  let namespace = flag(parsed, "--namespace");
  let name = first;
  const slash = first.split("/");
  if (slash.length === 2) {
    const [head, tail] = slash as [string, string];
    if (kinds.includes(head.toLowerCase())) {
      name = tail;
    } else if (KNOWN_KINDS.has(head.toLowerCase())) {
      throw usageError(verb, `${head} is not something this command acts on`);
    } else {
      if (namespace !== undefined && namespace !== head) {
        throw usageError(verb, `Namespace given twice ("${head}" and "${namespace}")`);
      }
      namespace = head;
      name = tail;
    }
  } else if (slash.length > 2) {
    throw usageError(verb, `"${first}" is not namespace/name`);
  }
  if (namespace === undefined) throw usageError(verb, `Which namespace is ${name} in? Add -n <namespace>`);
  return { namespace: checkNamespace(namespace, verb), name: checkName(name, kinds[0] ?? "object", verb) };
}

/** check_logs and describe_pod name their pod `pod`. */
function podTarget(parsed: Parsed, verb: Verb): { namespace: string; pod: string } {
  const { namespace, name } = target(parsed, verb, POD);
  return { namespace, pod: name };
}

function nodeName(parsed: Parsed, verb: Verb): string {
  const [first, ...extra] = parsed.positionals;
  if (!first) throw usageError(verb, "Missing the node name");
  if (extra.length > 0) throw usageError(verb, `Unexpected "${extra.join(" ")}"`);
  const name = first.toLowerCase().startsWith("node/") ? first.slice(5) : first;
  return checkName(name, "node", verb);
}

function onlyNamespace(parsed: Parsed, verb: Verb): string | undefined {
  const [first, ...extra] = parsed.positionals;
  if (extra.length > 0) throw usageError(verb, `Unexpected "${extra.join(" ")}"`);
  const namespace = first ?? flag(parsed, "--namespace");
  return namespace === undefined ? undefined : checkNamespace(namespace, verb);
}

function compact(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined));
}

const DEPLOYMENT = ["deployment", "deploy", "deployments", "deployment.apps"] as const;
const POD = ["pod", "pods", "po"] as const;
const KNOWN_KINDS = new Set<string>([
  ...DEPLOYMENT,
  ...POD,
  ..."node nodes no statefulset statefulsets sts daemonset daemonsets ds replicaset replicasets rs service services svc job jobs cronjob cronjobs configmap configmaps cm secret secrets namespace namespaces ns".split(
    " ",
  ),
]);

const verbs: Record<string, Verb> = {
  troubleshoot: {
    usage: "troubleshoot <namespace>/<pod-or-deployment> | troubleshoot node/<name>",
    summary: "diagnose a pod (or a Deployment's pods) or a node without the model",
    flags: ["--namespace"],
    build(parsed) {
      const first = parsed.positionals[0] ?? "";
      if (first.toLowerCase().startsWith("node/") || first.toLowerCase() === "node") {
        const rest =
          first.toLowerCase() === "node" ? { ...parsed, positionals: parsed.positionals.slice(1) } : parsed;
        return { tool: "troubleshoot_node", arguments: { name: nodeName(rest, this) } };
      }
      return { tool: "troubleshoot_pod", arguments: target(parsed, this, [...POD, ...DEPLOYMENT]) };
    },
  },
  logs: {
    usage:
      "logs <namespace>/<pod> [-c container] [--tail N] [--since 10m] [--previous] [--grep text] [--full]",
    summary: "show the end of a pod's log; --full uploads the whole log (bounded, redacted) as a file",
    flags: ["--namespace", "--container", "--tail", "--since", "--previous", "--grep", "--full"],
    build(parsed) {
      if (parsed.flags.has("--full")) {
        const combined = ["--tail", "--since", "--grep"].filter((name) => parsed.flags.has(name));
        if (combined.length > 0)
          throw usageError(this, `--full is the whole log: drop ${combined.join(", ")}`);
        return {
          tool: LOG_FILE,
          arguments: compact({
            ...podTarget(parsed, this),
            container: flag(parsed, "--container"),
            previous: parsed.flags.has("--previous") || parsed.flags.has("-p"),
          }),
        };
      }
      return {
        tool: "check_logs",
        arguments: compact({
          ...podTarget(parsed, this),
          container: flag(parsed, "--container"),
          tailLines: positiveInt(flag(parsed, "--tail"), "--tail", this, 1, 2000),
          sinceSeconds: durationSeconds(flag(parsed, "--since"), this),
          previous: parsed.flags.has("--previous") || parsed.flags.has("-p") ? true : undefined,
          grep: flag(parsed, "--grep"),
        }),
      };
    },
  },
  events: {
    usage: "events <namespace> [--limit N]",
    summary: "recent events in a namespace (warnings first)",
    flags: ["--namespace", "--limit"],
    build(parsed) {
      const namespace = onlyNamespace(parsed, this);
      if (!namespace) throw usageError(this, "Which namespace?");
      return {
        tool: "get_events",
        arguments: compact({
          namespace,
          limit: positiveInt(flag(parsed, "--limit"), "--limit", this, 1, 500),
        }),
      };
    },
  },
  pods: {
    usage: "pods <namespace>",
    summary: "list pods and their status",
    flags: ["--namespace"],
    build(parsed) {
      return { tool: "list_pods", arguments: compact({ namespace: onlyNamespace(parsed, this) }) };
    },
  },
  deployments: {
    usage: "deployments <namespace>",
    summary: "list Deployments and their rollout state",
    flags: ["--namespace"],
    build(parsed) {
      return { tool: "list_deployments", arguments: compact({ namespace: onlyNamespace(parsed, this) }) };
    },
  },
  namespaces: {
    usage: "namespaces",
    summary: "list namespaces",
    flags: [],
    build(parsed) {
      if (parsed.positionals.length > 0)
        throw usageError(this, `Unexpected "${parsed.positionals.join(" ")}"`);
      return { tool: "list_namespaces", arguments: {} };
    },
  },
  nodes: {
    usage: "nodes",
    summary: "show nodes that are NotReady or under pressure",
    flags: [],
    build(parsed) {
      if (parsed.positionals.length > 0)
        throw usageError(this, `Unexpected "${parsed.positionals.join(" ")}"`);
      return { tool: "show_unhealthy_nodes", arguments: {} };
    },
  },
  describe: {
    usage: "describe pod/<name> -n <namespace> | describe deployment/<name> -n <namespace>",
    summary: "describe a pod or a Deployment",
    flags: ["--namespace"],
    build(parsed) {
      const first = parsed.positionals[0] ?? "";
      const kind = first.includes("/") ? first.split("/")[0]!.toLowerCase() : "";
      if ((DEPLOYMENT as readonly string[]).includes(kind)) {
        return { tool: "describe_deployment", arguments: target(parsed, this, DEPLOYMENT) };
      }
      if ((POD as readonly string[]).includes(kind)) {
        return { tool: "describe_pod", arguments: podTarget(parsed, this) };
      }
      throw usageError(this, "Say pod/<name> or deployment/<name>");
    },
  },
  restart: {
    usage: "restart deployment/<name> -n <namespace>",
    summary: "rolling restart of a Deployment (needs approval)",
    flags: ["--namespace"],
    build(parsed) {
      return { tool: "restart_deployment", arguments: target(parsed, this, DEPLOYMENT) };
    },
  },
  scale: {
    usage: "scale deployment/<name> --replicas N -n <namespace>",
    summary: "change a Deployment's replica count (needs approval)",
    flags: ["--namespace", "--replicas"],
    build(parsed) {
      const replicas = positiveInt(flag(parsed, "--replicas"), "--replicas", this, 0, 1000);
      if (replicas === undefined) throw usageError(this, "--replicas is required");
      return { tool: "scale_deployment", arguments: { ...target(parsed, this, DEPLOYMENT), replicas } };
    },
  },
  rollback: {
    usage: "rollback deployment/<name> -n <namespace> [--to-revision N]",
    summary: "roll a Deployment back to its previous (or a given) revision (needs approval)",
    flags: ["--namespace", "--to-revision"],
    build(parsed) {
      return {
        tool: "rollback_deployment",
        arguments: compact({
          ...target(parsed, this, DEPLOYMENT),
          toRevision: positiveInt(flag(parsed, "--to-revision"), "--to-revision", this, 1),
        }),
      };
    },
  },
  delete: {
    usage: "delete pod/<name> -n <namespace>",
    summary: "evict a pod through the Eviction API, respecting PodDisruptionBudgets (needs approval)",
    flags: ["--namespace"],
    build(parsed) {
      return { tool: "delete_pod", arguments: target(parsed, this, POD) };
    },
  },
  cordon: {
    usage: "cordon <node>",
    summary: "mark a node unschedulable (needs approval)",
    flags: [],
    build(parsed) {
      return { tool: "cordon_node", arguments: { name: nodeName(parsed, this) } };
    },
  },
  uncordon: {
    usage: "uncordon <node>",
    summary: "mark a node schedulable again (needs approval)",
    flags: [],
    build(parsed) {
      return { tool: "uncordon_node", arguments: { name: nodeName(parsed, this) } };
    },
  },
  drain: {
    usage: "drain <node>",
    summary:
      "cordon a node and evict its pods one by one, stopping at a PodDisruptionBudget (needs approval)",
    flags: [],
    build(parsed) {
      return { tool: "drain_node", arguments: { name: nodeName(parsed, this) } };
    },
  },
  history: {
    usage: "history <namespace>/<workload>",
    summary: "the fixes Deputy remembers for a workload, with their verified results",
    flags: ["--namespace"],
    build(parsed) {
      const { namespace, name } = target(parsed, this, DEPLOYMENT);
      return { tool: HISTORY, arguments: { namespace, workload: name } };
    },
  },
  timeline: {
    usage: "timeline [<link to a thread>] (in a thread: that thread)",
    summary: "the thread's incident timeline, posted with a Markdown file for the postmortem",
    flags: [],
    build(parsed) {
      const [link, ...extra] = parsed.positionals;
      if (extra.length > 0) throw usageError(this, `Unexpected "${extra.join(" ")}"`);
      if (link === undefined) return { tool: TIMELINE, arguments: {} };
      const match = THREAD_LINK.exec(link);
      if (!match) throw usageError(this, `"${link.slice(0, 80)}" is not a link to a Slack message`);
      return { tool: TIMELINE, arguments: { channel: match[1]!, ts: `${match[2]}.${match[3]}` } };
    },
  },
  kubectl: {
    usage: "kubectl <read-only kubectl command>, e.g. kubectl get pods -n shop",
    summary: "a read-only kubectl-style query (get, describe, logs, top, events)",
    flags: [],
    build() {
      throw new Error("handled in parseDirectCommand");
    },
  },
};

export const DIRECT_COMMAND_USAGE: string = [
  "*Direct commands* (no AI; writes still need an approver):",
  ...Object.values(verbs).map((verb) => `• \`/deputy ${verb.usage}\` — ${verb.summary}`),
  "• `/deputy resume-writes` — approvers: lift an anomaly write pause before it ends by itself",
  "• `/deputy help` — this list",
  "Where Deputy serves several clusters, add `--cluster <name>` to any of these, or start a question with `in <name>,`.",
  "Anything else is a question for Deputy, e.g. `/deputy why is checkout crashing in shop?`",
].join("\n");

/**
 * Parse the text after `/deputy`. Known verbs become a tool call or throw a
 * DeputyError (INPUT_INVALID with usage, or POLICY_DENIED for force);
 * anything else is a question for the agent.
 */
export function parseDirectCommand(text: string): DirectCommand {
  const trimmed = text.trim();
  if (trimmed === "" || /^(help|-h|--help|\?)$/i.test(trimmed))
    return { kind: "help", text: DIRECT_COMMAND_USAGE };
  const word = firstWord(trimmed).toLowerCase();
  if (word === "kubectl") {
    const rest = trimmed.slice(trimmed.toLowerCase().indexOf("kubectl") + "kubectl".length).trim();
    if (!rest) throw usageError(verbs.kubectl, "Missing the kubectl command");
    return { kind: "tool", tool: "kubectl", arguments: { command: rest }, text: trimmed };
  }
  const verb = verbs[word];
  // A question that happens to start like a sentence ("restart why …?") still
  // goes to the verb: verbs are reserved words, documented in help.
  if (!verb) return { kind: "ask", prompt: trimmed };
  const built = verb.build.call(verb, parseArgs(argumentsOf(trimmed, verb), verb));
  if (built.tool === LOG_FILE) {
    const { namespace, pod, container, previous } = built.arguments as {
      namespace: string;
      pod: string;
      container?: string;
      previous: boolean;
    };
    return { kind: "log_file", arguments: { namespace, pod, ...(container ? { container } : {}), previous } };
  }
  if (built.tool === HISTORY) {
    const { namespace, workload } = built.arguments as { namespace: string; workload: string };
    return { kind: "history", arguments: { namespace, workload } };
  }
  if (built.tool === TIMELINE) {
    const { channel, ts } = built.arguments as { channel?: string; ts?: string };
    return { kind: "timeline", thread: channel && ts ? { channel, ts } : undefined };
  }
  return { kind: "tool", tool: built.tool, arguments: built.arguments, text: trimmed };
}
