import { DeputyError } from "../../../../core/errors.ts";
import { tokenize as splitWords } from "../../../../core/untrusted/tokenize.ts";

/**
 * Parses a kubectl command line into a structured read request. Nothing here
 * runs a process: the kubectl tool serves the parsed request through the API.
 * Write verbs are recognised so the refusal can name the write tool to use.
 */
export const READ_VERBS = [
  "get",
  "describe",
  "logs",
  "top",
  "events",
  "explain",
  "api-resources",
  "auth",
  "version",
  "cluster-info",
] as const;
export type ReadVerb = (typeof READ_VERBS)[number];

export interface KubectlCommand {
  verb: ReadVerb;
  /** Positional arguments after the verb (and sub-verb for auth/top). */
  args: string[];
  sub?: string;
  namespace?: string;
  allNamespaces: boolean;
  selector?: string;
  fieldSelector?: string;
  output?: string;
  container?: string;
  tail?: number;
  sinceSeconds?: number;
  previous: boolean;
  timestamps: boolean;
  showLabels: boolean;
  limit?: number;
  types?: string;
  forObject?: string;
  recursive: boolean;
}

/** Write verbs and the tool that does the job with human approval. */
const WRITE_VERBS: Record<string, string> = {
  delete: "the delete_pod tool (pods only, evicted through the Eviction API)",
  scale: "the scale_deployment tool",
  cordon: "the cordon_node tool",
  uncordon: "the uncordon_node tool",
  drain: "the drain_node tool",
  apply: "the apply_manifest tool",
  create: "the apply_manifest tool",
  replace: "the apply_manifest tool",
  patch: "the apply_manifest tool",
  edit: "the apply_manifest tool",
  label: "the apply_manifest tool",
  annotate: "the apply_manifest tool",
  taint: "the apply_manifest tool",
  autoscale: "the apply_manifest tool",
  expose: "the apply_manifest tool",
  run: "the apply_manifest tool",
  set: "the set_deployment_image, set_deployment_resources or set_deployment_env tool",
  evict: "the delete_pod tool",
};

const ROLLOUT_TOOLS: Record<string, string> = {
  restart: "the restart_deployment tool",
  undo: "the rollback_deployment tool",
};

const INTERACTIVE = new Set([
  "exec",
  "attach",
  "cp",
  "port-forward",
  "proxy",
  "debug",
  "plugin",
  "certificate",
  "kustomize",
  "wait",
  "alpha",
]);

const IDENTITY_FLAGS = new Set([
  "kubeconfig",
  "context",
  "cluster",
  "user",
  "token",
  "server",
  "s",
  "as",
  "as-group",
  "as-uid",
  "insecure-skip-tls-verify",
  "certificate-authority",
  "client-certificate",
  "client-key",
  "username",
  "password",
  "tls-server-name",
]);

const TAKES_VALUE = new Set([
  "n",
  "namespace",
  "l",
  "selector",
  "field-selector",
  "o",
  "output",
  "c",
  "container",
  "tail",
  "since",
  "limit",
  "chunk-size",
  "types",
  "for",
  "sort-by",
  "api-group",
  "subresource",
]);
const BOOLEAN_FLAGS = new Set([
  "A",
  "all-namespaces",
  "p",
  "previous",
  "timestamps",
  "show-labels",
  "no-headers",
  "recursive",
  "namespaced",
  "f",
  "follow",
  "w",
  "watch",
  "all-containers",
  "ignore-not-found",
]);

function refuse(message: string): never {
  throw new DeputyError("INPUT_INVALID", message);
}

/** Shell-like splitting with quotes; shell operators are refused, not interpreted. */
export function tokenize(line: string): string[] {
  return splitWords(line, {
    refuseOperators: {
      message: (ch) =>
        `the kubectl tool runs one read-only kubectl command, not a shell: "${ch}" (pipes, redirection, substitution, command chaining) is not supported`,
    },
    unterminated: (quote) => `unterminated ${quote} quote in the kubectl command`,
  });
}

function parseDuration(value: string): number {
  const match = /^(\d+)(s|m|h|d)?$/.exec(value);
  if (!match) refuse(`--since "${value}" is not a duration like 30s, 5m, 2h`);
  const n = Number(match[1]);
  return n * ({ s: 1, m: 60, h: 3600, d: 86400 }[match[2] as "s" | "m" | "h" | "d"] ?? 1);
}

function positiveInt(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) refuse(`${flag} "${value}" must be a non-negative whole number`);
  return n;
}

/** The verb (and sub-verb) decide first: a write is refused by name whatever its flags. */
function refuseWrites(tokens: readonly string[]): void {
  const words: string[] = [];
  for (let i = 0; i < tokens.length && words.length < 2; i++) {
    const token = tokens[i]!;
    if (token.startsWith("-")) {
      const name = token.replace(/^--?/, "").split("=")[0] ?? "";
      if (!token.includes("=") && TAKES_VALUE.has(name) && (token.startsWith("--") || token.length === 2))
        i += 1;
      continue;
    }
    words.push(token);
  }
  const [verb, sub] = words;
  if (!verb) return;
  if (verb === "rollout" && sub && ROLLOUT_TOOLS[sub]) {
    refuse(
      `"kubectl rollout ${sub}" changes the cluster; this tool only reads. Use ${ROLLOUT_TOOLS[sub]} instead (it needs human approval).`,
    );
  }
  if (WRITE_VERBS[verb]) {
    refuse(
      `"kubectl ${verb}" changes the cluster; this tool only reads. Use ${WRITE_VERBS[verb]} instead (it needs human approval).`,
    );
  }
  if (INTERACTIVE.has(verb)) {
    refuse(`"kubectl ${verb}" (interactive access to containers or the API) is not available to Deputy`);
  }
  if (verb === "config") refuse('"kubectl config" shows local credentials and is not available');
}

export function parseKubectl(line: string): KubectlCommand {
  const tokens = tokenize(line.trim());
  if (tokens[0] === "kubectl" || tokens[0] === "k") tokens.shift();
  if (tokens.length === 0) refuse('empty kubectl command; try e.g. "get pods -n shop"');
  const command: KubectlCommand = {
    verb: "get",
    args: [],
    allNamespaces: false,
    previous: false,
    timestamps: false,
    showLabels: false,
    recursive: false,
  };
  refuseWrites(tokens);
  const positional: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (!token.startsWith("-") || token === "-") {
      positional.push(token);
      continue;
    }
    let name: string;
    let value: string | undefined;
    if (token.startsWith("--")) {
      const eq = token.indexOf("=");
      name = eq === -1 ? token.slice(2) : token.slice(2, eq);
      value = eq === -1 ? undefined : token.slice(eq + 1);
    } else {
      name = token.slice(1, 2);
      const rest = token.slice(2);
      value = rest === "" ? undefined : rest.startsWith("=") ? rest.slice(1) : rest;
    }
    if (IDENTITY_FLAGS.has(name)) {
      refuse(`--${name} is not allowed: Deputy always uses its own read-only identity and cluster`);
    }
    if (BOOLEAN_FLAGS.has(name)) {
      if (name === "f" || name === "follow" || name === "w" || name === "watch") {
        refuse(`--${name} (streaming) is not supported; ask again to see newer output`);
      }
      if (name === "A" || name === "all-namespaces") command.allNamespaces = true;
      if (name === "p" || name === "previous") command.previous = true;
      if (name === "timestamps") command.timestamps = true;
      if (name === "show-labels") command.showLabels = true;
      if (name === "recursive") command.recursive = true;
      continue;
    }
    if (!TAKES_VALUE.has(name)) refuse(`unknown or unsupported kubectl flag "${token}"`);
    if (value === undefined) {
      value = tokens[++i];
      if (value === undefined) refuse(`flag "${token}" needs a value`);
    }
    switch (name) {
      case "n":
      case "namespace":
        command.namespace = value;
        break;
      case "l":
      case "selector":
        command.selector = value;
        break;
      case "field-selector":
        command.fieldSelector = value;
        break;
      case "o":
      case "output":
        if (!/^(wide|yaml|json|name)$/.test(value))
          refuse(`-o ${value} is not supported; use wide, yaml, json or name`);
        command.output = value;
        break;
      case "c":
      case "container":
        command.container = value;
        break;
      case "tail":
        command.tail = value === "-1" ? undefined : positiveInt("--tail", value);
        break;
      case "since":
        command.sinceSeconds = parseDuration(value);
        break;
      case "limit":
      case "chunk-size":
        command.limit = positiveInt(`--${name}`, value);
        break;
      case "types":
        command.types = value;
        break;
      case "for":
        command.forObject = value;
        break;
      default:
        // Accepted and ignored: they change presentation only.
        break;
    }
  }
  const [verb, ...rest] = positional;
  if (!verb)
    refuse(
      "no kubectl verb given; try get, describe, logs, events, top, explain, api-resources or auth can-i",
    );
  if (verb === "rollout") {
    // Writes (restart, undo) were refused above; status and history are reads.
    const sub = rest[0];
    if (sub === "status" || sub === "history") {
      return { ...command, verb: "describe", sub: `rollout-${sub}`, args: rest.slice(1) };
    }
    refuse(
      `"kubectl rollout ${sub ?? ""}" is not supported; rollout status and history are (via describe_deployment)`,
    );
  }
  if (!(READ_VERBS as readonly string[]).includes(verb)) {
    refuse(`unknown kubectl verb "${verb}"; supported: ${READ_VERBS.join(", ")}`);
  }
  command.verb = verb as ReadVerb;
  if (verb === "auth" || verb === "top") {
    command.sub = rest[0];
    command.args = rest.slice(1);
  } else {
    command.args = rest;
  }
  return command;
}
