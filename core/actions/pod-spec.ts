import { isSensitiveKey, redactText } from "../redact.ts";
import type { RiskFlag } from "./schema.ts";

/**
 * What a pod template lets a workload do, for every action that creates or
 * replaces one (apply_manifest of a workload, image/env changes, rollback).
 * Two outcomes: host access (privileged, hostPath, host namespaces,
 * capabilities beyond a small allow-list) is refused by the host-access
 * guardrail; Secret references, a changed service account or token automount,
 * images outside the registry allow-list, DaemonSets, root and privilege
 * escalation make the action high risk, and the card names what and where.
 * Only what the change adds counts for the risk flags: a Deployment that
 * already mounted a Secret does not become high risk for a new image tag.
 */

export interface PodTemplateChange {
  /** "Job shop/warm", for the sentences. */
  workload: string;
  /** The workload kind: a DaemonSet runs on every node. */
  kind: string;
  /** The live pod spec, when the workload exists. */
  before?: unknown;
  /** The pod spec that will run. */
  after: unknown;
}

export interface PodSpecOptions {
  /** Image name prefixes that need no flag ("registry.example.com/team/"); empty: no allow-list. */
  allowedRegistries: readonly string[];
  /** Capabilities a container may add without counting as host access. */
  allowedCapabilities: readonly string[];
}

export const HOST_ACCESS_RULE = "host-access";

type Json = Record<string, unknown>;

function obj(value: unknown): Json {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Json) : {};
}
function list(value: unknown): Json[] {
  return Array.isArray(value) ? value.map(obj) : [];
}
function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

interface ContainerEntry {
  kind: "container" | "init container" | "ephemeral container";
  container: Json;
  name: string;
}

function containersOf(spec: Json): ContainerEntry[] {
  const entries: ContainerEntry[] = [];
  const add = (kind: ContainerEntry["kind"], field: string): void => {
    for (const container of list(spec[field])) {
      entries.push({ kind, container, name: str(container.name) ?? "(unnamed)" });
    }
  };
  add("container", "containers");
  add("init container", "initContainers");
  add("ephemeral container", "ephemeralContainers");
  return entries;
}

/** Every sentence saying how this pod spec reaches the node itself. */
export function hostAccessOf(podSpec: unknown, allowedCapabilities: readonly string[]): string[] {
  const spec = obj(podSpec);
  const found: string[] = [];
  for (const field of ["hostNetwork", "hostPID", "hostIPC", "hostUsers"] as const) {
    // hostUsers defaults to true and false is the safe value; the others are unsafe when true.
    if (field !== "hostUsers" && spec[field] === true)
      found.push(`${field}: true shares the node's namespace`);
  }
  for (const volume of list(spec.volumes)) {
    const hostPath = obj(volume.hostPath);
    if (volume.hostPath !== undefined) {
      found.push(
        `volume ${str(volume.name) ?? "(unnamed)"} mounts the node's path ${str(hostPath.path) ?? "(unset)"} (hostPath)`,
      );
    }
  }
  const allowed = new Set(allowedCapabilities.map((cap) => cap.toUpperCase().replace(/^CAP_/, "")));
  for (const { kind, container, name } of containersOf(spec)) {
    const security = obj(container.securityContext);
    if (security.privileged === true) found.push(`${kind} ${name} is privileged`);
    const add = obj(security.capabilities).add;
    for (const cap of Array.isArray(add) ? add : []) {
      if (!allowed.has(String(cap).toUpperCase().replace(/^CAP_/, ""))) {
        found.push(`${kind} ${name} adds capability ${String(cap)}`);
      }
    }
    for (const port of list(container.ports)) {
      if (port.hostPort !== undefined && port.hostPort !== 0) {
        found.push(`${kind} ${name} binds host port ${String(port.hostPort)}`);
      }
    }
  }
  return found;
}

/** Names of the Secrets a pod spec reads, with where: "Secret db-credentials (envFrom of container app)". */
export function secretReferencesOf(podSpec: unknown): Map<string, string> {
  const spec = obj(podSpec);
  const refs = new Map<string, string>();
  const add = (secret: string | undefined, where: string): void => {
    if (secret && !refs.has(secret)) refs.set(secret, where);
  };
  for (const { kind, container, name } of containersOf(spec)) {
    for (const source of list(container.envFrom))
      add(str(obj(source.secretRef).name), `envFrom of ${kind} ${name}`);
    for (const env of list(container.env)) {
      add(str(obj(obj(env.valueFrom).secretKeyRef).name), `env ${str(env.name) ?? "?"} of ${kind} ${name}`);
    }
  }
  for (const volume of list(spec.volumes)) {
    const vname = str(volume.name) ?? "(unnamed)";
    add(str(obj(volume.secret).secretName), `volume ${vname}`);
    for (const source of list(obj(volume.projected).sources))
      add(str(obj(source.secret).name), `projected volume ${vname}`);
  }
  return refs;
}

function imagesOf(podSpec: unknown): Map<string, string> {
  const images = new Map<string, string>();
  for (const { kind, container, name } of containersOf(obj(podSpec))) {
    const image = str(container.image);
    if (image) images.set(`${kind} ${name}`, image);
  }
  return images;
}

/** Literal env values that look like credentials: the approver sees them as they are, flagged. */
function secretLiteralsOf(podSpec: unknown): string[] {
  const found: string[] = [];
  for (const { kind, container, name } of containersOf(obj(podSpec))) {
    for (const env of list(container.env)) {
      const value = str(env.value);
      const key = str(env.name) ?? "?";
      if (value === undefined || value === "") continue;
      if (isSensitiveKey(key) || redactText(value) !== value) found.push(`env ${key} of ${kind} ${name}`);
    }
  }
  return found;
}

function isRoot(spec: Json, container: Json): boolean {
  const containerUser = obj(container.securityContext).runAsUser;
  const podUser = obj(spec.securityContext).runAsUser;
  return containerUser === 0 || (containerUser === undefined && podUser === 0);
}

/** Risk flags for what a pod template change adds; see the module comment. */
export function podSpecRisks(change: PodTemplateChange, options: PodSpecOptions): RiskFlag[] {
  const flags: RiskFlag[] = [];
  const after = obj(change.after);
  const before = change.before === undefined ? undefined : obj(change.before);

  if (change.kind === "DaemonSet") {
    flags.push({
      rule: "daemonset",
      message: `${change.workload} is a DaemonSet: its pod runs on every node.`,
    });
  }
  const oldRefs = before ? secretReferencesOf(before) : new Map<string, string>();
  const newRefs = [...secretReferencesOf(after)].filter(([secret]) => !oldRefs.has(secret));
  if (newRefs.length > 0) {
    flags.push({
      rule: "secret-reference",
      message: `${change.workload} reads ${newRefs.map(([secret, where]) => `Secret ${secret} (${where})`).join(", ")}: its pods get the Secret's keys.`,
    });
  }
  const account = str(after.serviceAccountName) ?? str(after.serviceAccount) ?? "default";
  const oldAccount = before
    ? (str(before.serviceAccountName) ?? str(before.serviceAccount) ?? "default")
    : "default";
  const identity: string[] = [];
  if (account !== oldAccount || (!before && account !== "default")) {
    identity.push(
      `runs as service account ${account}${before ? ` (was ${oldAccount})` : ""}: its pods get that account's permissions`,
    );
  }
  if (after.automountServiceAccountToken === true && before?.automountServiceAccountToken !== true) {
    identity.push("sets automountServiceAccountToken: true: its pods get the account's API token");
  }
  if (identity.length > 0) {
    flags.push({ rule: "service-account", message: `${change.workload} ${identity.join("; ")}.` });
  }
  if (options.allowedRegistries.length > 0) {
    const oldImages = new Set(before ? imagesOf(before).values() : []);
    const outside = [...imagesOf(after)].filter(
      ([, image]) =>
        !oldImages.has(image) && !options.allowedRegistries.some((prefix) => image.startsWith(prefix)),
    );
    if (outside.length > 0) {
      flags.push({
        rule: "image-registry",
        message: `${outside.map(([where, image]) => `${where} runs ${image}`).join(", ")}, outside the allowed registries (${options.allowedRegistries.join(", ")}).`,
      });
    }
  }
  const root = containersOf(after)
    .filter(({ container }) => isRoot(after, container))
    .map(({ kind, name }) => `${kind} ${name}`);
  if (root.length > 0)
    flags.push({ rule: "run-as-root", message: `${root.join(", ")} run(s) as root (runAsUser 0).` });
  const escalation = containersOf(after)
    .filter(({ container }) => obj(container.securityContext).allowPrivilegeEscalation === true)
    .map(({ kind, name }) => `${kind} ${name}`);
  if (escalation.length > 0) {
    flags.push({
      rule: "privilege-escalation",
      message: `${escalation.join(", ")} set(s) allowPrivilegeEscalation: true.`,
    });
  }
  const literals = secretLiteralsOf(after).filter(
    (where) => !before || !secretLiteralsOf(before).includes(where),
  );
  if (literals.length > 0) {
    flags.push({
      rule: "secret-literal",
      message: `${literals.join(", ")} hold(s) a literal value that looks like a secret; it is shown as it will be applied. Prefer a Secret reference.`,
    });
  }
  return flags;
}

/** The security lines of an approval view: what the approver must read first. */
export function podSpecSummary(change: PodTemplateChange): string[] {
  const after = obj(change.after);
  const lines: string[] = [];
  const refs = secretReferencesOf(after);
  if (refs.size > 0) {
    lines.push(`Secrets read: ${[...refs].map(([secret, where]) => `${secret} (${where})`).join(", ")}`);
  }
  const account = str(after.serviceAccountName) ?? str(after.serviceAccount);
  if (account) lines.push(`Service account: ${account}`);
  const images = [...imagesOf(after)].map(([where, image]) => `${where}: ${image}`);
  if (images.length > 0) lines.push(`Images: ${images.join(", ")}`);
  const host = hostAccessOf(after, []);
  if (host.length > 0) lines.push(`Host access: ${host.join("; ")}`);
  return lines;
}

/** The pod spec inside a workload manifest, for the kinds that have one. */
export function podSpecOfWorkload(kind: string, manifest: unknown): unknown {
  const spec = obj(obj(manifest).spec);
  switch (kind) {
    case "Deployment":
    case "StatefulSet":
    case "DaemonSet":
    case "Job":
      return obj(spec.template).spec;
    case "CronJob":
      return obj(obj(obj(spec.jobTemplate).spec).template).spec;
    default:
      return undefined;
  }
}
