import { isSensitiveKey, redactText } from "../untrusted/redact.ts";
import { imageAllowed } from "./image-reference.ts";
import type { RiskFlag } from "./schema.ts";

/**
 * What a pod template lets a workload do, for every action that creates or
 * replaces one (apply_manifest of a workload, image/env changes, rollback).
 * Two outcomes: host access (privileged, hostPath, host namespaces, SELinux
 * spc_t, Windows HostProcess, capabilities beyond a small allow-list) is
 * refused by the host-access guardrail; Secret access, a changed service
 * account or token, sandbox opt-outs, pinning to a node, images outside the
 * registry allow-list, DaemonSets, root, privilege escalation and hardening
 * the change removes make the action high risk, and the card names what and
 * where. Only what the change adds counts for the risk flags: a Deployment
 * that already mounted a Secret does not become high risk for a new image tag.
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
  /**
   * The pod template's metadata.annotations, when known: the legacy AppArmor
   * annotations (`container.apparmor.security.beta.kubernetes.io/<container>`)
   * live there, not in the spec.
   */
  annotations?: { before?: unknown; after?: unknown };
}

export interface PodSpecOptions {
  /**
   * Registry locations whose images need no flag ("registry.example.com",
   * "registry.example.com/team"), matched by host and whole path segments
   * (see image-reference.ts); empty: no allow-list.
   */
  allowedRegistries: readonly string[];
  /** Capabilities a container may add without counting as host access. */
  allowedCapabilities: readonly string[];
}

export const HOST_ACCESS_RULE = "host-access";

/** CSI drivers that mount Secrets from a secret store into the pod: Secret access like a secret volume. */
export const SECRET_STORE_CSI_DRIVERS: readonly string[] = ["secrets-store.csi.k8s.io"];

/**
 * SELinux types that leave a container unconfined by SELinux. On an SELinux
 * host that label is what keeps a container out of the node's files and
 * processes, so these are as good as privileged: refused as host access, not
 * merely flagged like the other sandbox opt-outs.
 */
const UNCONFINED_SELINUX_TYPES = new Set(["spc_t", "unconfined_t"]);
/** The container types Pod Security "baseline" accepts; any other type is a sandbox opt-out. */
const CONTAINER_SELINUX_TYPES = new Set([
  "",
  "container_t",
  "container_init_t",
  "container_kvm_t",
  "container_engine_t",
]);
/** Namespaced sysctls Pod Security "baseline" counts as safe; any other one reaches past the pod. */
const SAFE_SYSCTLS = new Set([
  "kernel.shm_rmid_forced",
  "net.ipv4.ip_local_port_range",
  "net.ipv4.ip_unprivileged_port_start",
  "net.ipv4.tcp_syncookies",
  "net.ipv4.ping_group_range",
  "net.ipv4.ip_local_reserved_ports",
  "net.ipv4.tcp_keepalive_time",
  "net.ipv4.tcp_fin_timeout",
  "net.ipv4.tcp_keepalive_intvl",
  "net.ipv4.tcp_keepalive_probes",
]);
const LEGACY_APPARMOR_PREFIX = "container.apparmor.security.beta.kubernetes.io/";

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
function nonEmpty(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}
/** Sentences in `after` that `before` did not have: what the change adds. */
function added(after: readonly string[], before: readonly string[] | undefined): string[] {
  const old = new Set(before ?? []);
  return after.filter((line) => !old.has(line));
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

/** The security contexts of a pod spec, each with the words that name it. */
function securityContextsOf(spec: Json): { where: string; context: Json }[] {
  return [
    { where: "pod", context: obj(spec.securityContext) },
    ...containersOf(spec).map(({ kind, name, container }) => ({
      where: `${kind} ${name}`,
      context: obj(container.securityContext),
    })),
  ];
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
  for (const { where, context } of securityContextsOf(spec)) {
    const type = str(obj(context.seLinuxOptions).type);
    if (type !== undefined && UNCONFINED_SELINUX_TYPES.has(type)) {
      found.push(`${where} runs with SELinux type ${type}, unconfined like a privileged container`);
    }
    // A HostProcess container runs as a process on the Windows node itself.
    if (obj(context.windowsOptions).hostProcess === true) {
      found.push(`${where} is a Windows HostProcess container (runs on the node itself)`);
    }
  }
  return found;
}

/**
 * Every sentence naming a way this pod steps out of its sandbox without
 * reaching the node outright: Unconfined seccomp or AppArmor (in the spec or
 * the legacy annotation), an SELinux label outside the container types,
 * `procMount: Unmasked`, sysctls outside the safe set.
 */
export function sandboxOptOutsOf(podSpec: unknown, templateAnnotations?: unknown): string[] {
  const spec = obj(podSpec);
  const found: string[] = [];
  for (const { where, context } of securityContextsOf(spec)) {
    if (str(obj(context.seccompProfile).type)?.toLowerCase() === "unconfined") {
      found.push(`${where} sets seccompProfile Unconfined`);
    }
    if (str(obj(context.appArmorProfile).type)?.toLowerCase() === "unconfined") {
      found.push(`${where} sets appArmorProfile Unconfined`);
    }
    const selinux = obj(context.seLinuxOptions);
    const type = str(selinux.type);
    if (type !== undefined && !CONTAINER_SELINUX_TYPES.has(type) && !UNCONFINED_SELINUX_TYPES.has(type)) {
      found.push(`${where} sets SELinux type ${type}`);
    }
    for (const field of ["user", "role"] as const) {
      const value = nonEmpty(selinux[field]);
      if (value !== undefined) found.push(`${where} sets SELinux ${field} ${value}`);
    }
    if (str(context.procMount)?.toLowerCase() === "unmasked") {
      found.push(`${where} sets procMount: Unmasked (the node's /proc paths are not masked)`);
    }
  }
  for (const sysctl of list(obj(spec.securityContext).sysctls)) {
    const name = str(sysctl.name) ?? "(unnamed)";
    if (!SAFE_SYSCTLS.has(name)) found.push(`pod sets sysctl ${name}`);
  }
  for (const [key, value] of Object.entries(obj(templateAnnotations))) {
    if (key.startsWith(LEGACY_APPARMOR_PREFIX) && str(value)?.toLowerCase() === "unconfined") {
      found.push(
        `annotation ${key}: unconfined turns AppArmor off for container ${key.slice(LEGACY_APPARMOR_PREFIX.length)}`,
      );
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

/**
 * Secrets a pod spec reads through a secret-store CSI volume, keyed by what
 * they read: "SecretProviderClass vault-db" → "CSI volume creds, driver secrets-store.csi.k8s.io".
 */
export function secretStoreVolumesOf(podSpec: unknown): Map<string, string> {
  const found = new Map<string, string>();
  for (const volume of list(obj(podSpec).volumes)) {
    const csi = obj(volume.csi);
    const driver = str(csi.driver);
    if (driver === undefined || !SECRET_STORE_CSI_DRIVERS.includes(driver)) continue;
    const spc = str(obj(csi.volumeAttributes).secretProviderClass) ?? "(unnamed)";
    const key = `SecretProviderClass ${spc}`;
    if (!found.has(key)) found.set(key, `CSI volume ${str(volume.name) ?? "(unnamed)"}, driver ${driver}`);
  }
  return found;
}

/**
 * The account whose permissions the pods get: `serviceAccountName` when set,
 * else the deprecated `serviceAccount` (which the API server copies into an
 * empty `serviceAccountName`), else "default".
 */
export function effectiveServiceAccount(podSpec: unknown): string {
  const spec = obj(podSpec);
  return nonEmpty(spec.serviceAccountName) ?? nonEmpty(spec.serviceAccount) ?? "default";
}

/** Projected service-account tokens a pod spec mounts, whatever automountServiceAccountToken says. */
export function serviceAccountTokensOf(podSpec: unknown): string[] {
  const found: string[] = [];
  for (const volume of list(obj(podSpec).volumes)) {
    for (const source of list(obj(volume.projected).sources)) {
      if (source.serviceAccountToken === undefined) continue;
      const token = obj(source.serviceAccountToken);
      const audience = nonEmpty(token.audience);
      found.push(
        `projected volume ${str(volume.name) ?? "(unnamed)"} mounts a service-account token${audience ? ` for audience ${audience}` : ""}`,
      );
    }
  }
  return found;
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

function capabilityName(cap: unknown): string {
  return String(cap).toUpperCase().replace(/^CAP_/, "");
}

/** A profile (seccomp or AppArmor) that confines: RuntimeDefault or Localhost. */
function confiningProfile(profile: unknown): string | undefined {
  const type = str(obj(profile).type);
  if (type === "RuntimeDefault") return type;
  if (type === "Localhost") {
    const file = nonEmpty(obj(profile).localhostProfile);
    return file ? `Localhost ${file}` : type;
  }
  return undefined;
}

/**
 * Every hardening setting `before` had that `after` drops or weakens, as
 * "container app loses readOnlyRootFilesystem: true". Containers are matched
 * by kind and name (a container that is removed or added loses nothing).
 * Settings a container inherits from the pod (runAsNonRoot, runAsUser,
 * seccomp, AppArmor) are compared as in effect for each container, so moving
 * one from the pod to every container is not a loss.
 */
export function hardeningRemovedOf(before: unknown, after: unknown): string[] {
  const oldSpec = obj(before);
  const newSpec = obj(after);
  const found: string[] = [];
  const podLoses = (what: string): void => {
    found.push(`pod loses ${what}`);
  };
  if (oldSpec.automountServiceAccountToken === false && newSpec.automountServiceAccountToken !== false) {
    podLoses("automountServiceAccountToken: false");
  }
  if (oldSpec.hostUsers === false && newSpec.hostUsers !== false)
    podLoses("hostUsers: false (its user namespace)");

  const oldPod = obj(oldSpec.securityContext);
  const newPod = obj(newSpec.securityContext);
  const newContainers = new Map(containersOf(newSpec).map((entry) => [`${entry.kind} ${entry.name}`, entry]));
  for (const { kind, name, container } of containersOf(oldSpec)) {
    const where = `${kind} ${name}`;
    const match = newContainers.get(where);
    if (match === undefined) continue;
    const lost: string[] = [];
    const was = obj(container.securityContext);
    const now = obj(match.container.securityContext);
    // In effect for the container: its own setting, else the pod's.
    const effective = (context: Json, pod: Json, field: string): unknown => context[field] ?? pod[field];

    if (effective(was, oldPod, "runAsNonRoot") === true && effective(now, newPod, "runAsNonRoot") !== true) {
      lost.push("runAsNonRoot: true");
    }
    const oldUser = effective(was, oldPod, "runAsUser");
    const newUser = effective(now, newPod, "runAsUser");
    if (typeof oldUser === "number" && oldUser !== 0 && (newUser === undefined || newUser === 0)) {
      lost.push(`runAsUser: ${oldUser}`);
    }
    for (const field of ["seccompProfile", "appArmorProfile"] as const) {
      const oldProfile = confiningProfile(effective(was, oldPod, field));
      const newType = str(obj(effective(now, newPod, field)).type);
      if (oldProfile !== undefined && (newType === undefined || newType === "Unconfined")) {
        lost.push(`${field} ${oldProfile}`);
      }
    }
    if (was.readOnlyRootFilesystem === true && now.readOnlyRootFilesystem !== true) {
      lost.push("readOnlyRootFilesystem: true");
    }
    if (was.allowPrivilegeEscalation === false && now.allowPrivilegeEscalation !== false) {
      lost.push("allowPrivilegeEscalation: false");
    }
    const oldDrop = obj(was.capabilities).drop;
    const newDrop = new Set(
      (Array.isArray(obj(now.capabilities).drop) ? (obj(now.capabilities).drop as unknown[]) : []).map(
        capabilityName,
      ),
    );
    for (const cap of Array.isArray(oldDrop) ? oldDrop : []) {
      if (!newDrop.has(capabilityName(cap))) lost.push(`capabilities.drop ${String(cap)}`);
    }
    const oldLimits = obj(obj(container.resources).limits);
    const newLimits = obj(obj(match.container.resources).limits);
    for (const [resource, value] of Object.entries(oldLimits)) {
      if (newLimits[resource] === undefined) lost.push(`limits.${resource}: ${String(value)}`);
    }
    if (lost.length > 0) found.push(`${where} loses ${lost.join(", ")}`);
  }
  return found;
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
  const newRefs = [...secretReferencesOf(after)]
    .filter(([secret]) => !oldRefs.has(secret))
    .map(([secret, where]) => `Secret ${secret} (${where})`);
  const oldStores = before ? secretStoreVolumesOf(before) : new Map<string, string>();
  const newStores = [...secretStoreVolumesOf(after)]
    .filter(([key]) => !oldStores.has(key))
    .map(([key, where]) => `${key} (${where})`);
  if (newRefs.length + newStores.length > 0) {
    flags.push({
      rule: "secret-reference",
      message: `${change.workload} reads ${[...newRefs, ...newStores].join(", ")}: its pods get those secrets.`,
    });
  }
  const account = effectiveServiceAccount(after);
  const oldAccount = before ? effectiveServiceAccount(before) : "default";
  const identity: string[] = [];
  if (account !== oldAccount || (!before && account !== "default")) {
    identity.push(
      `runs as service account ${account}${before ? ` (was ${oldAccount})` : ""}: its pods get that account's permissions`,
    );
  }
  if (after.automountServiceAccountToken === true && before?.automountServiceAccountToken !== true) {
    identity.push("sets automountServiceAccountToken: true: its pods get the account's API token");
  }
  const tokens = added(serviceAccountTokensOf(after), before && serviceAccountTokensOf(before));
  if (tokens.length > 0) {
    identity.push(
      `${tokens.join(", ")} of service account ${account}: its pods get that account's API token whatever automountServiceAccountToken says`,
    );
  }
  if (identity.length > 0) {
    flags.push({ rule: "service-account", message: `${change.workload} ${identity.join("; ")}.` });
  }
  const optOuts = added(
    sandboxOptOutsOf(after, change.annotations?.after),
    before && sandboxOptOutsOf(before, change.annotations?.before),
  );
  if (optOuts.length > 0) {
    flags.push({
      rule: "sandbox-opt-out",
      message: `${change.workload} steps out of the pod sandbox: ${optOuts.join("; ")}.`,
    });
  }
  const nodeName = nonEmpty(after.nodeName);
  if (nodeName !== undefined && nodeName !== nonEmpty(before?.nodeName)) {
    flags.push({
      rule: "node-pinning",
      message: `${change.workload} pins its pods to node ${nodeName} (nodeName): the scheduler, with its taints and resource checks, is bypassed.`,
    });
  }
  if (options.allowedRegistries.length > 0) {
    const oldImages = new Set(before ? imagesOf(before).values() : []);
    const outside = [...imagesOf(after)].filter(
      ([, image]) => !oldImages.has(image) && !imageAllowed(image, options.allowedRegistries),
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
  if (before) {
    const removed = hardeningRemovedOf(before, after);
    if (removed.length > 0) {
      flags.push({
        rule: "hardening-removed",
        message: `${change.workload} removes hardening: ${removed.join("; ")}.`,
      });
    }
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
  const stores = secretStoreVolumesOf(after);
  if (refs.size + stores.size > 0) {
    lines.push(
      `Secrets read: ${[
        ...[...refs].map(([secret, where]) => `${secret} (${where})`),
        ...[...stores].map(([key, where]) => `${key} (${where})`),
      ].join(", ")}`,
    );
  }
  if (nonEmpty(after.serviceAccountName) ?? nonEmpty(after.serviceAccount)) {
    lines.push(`Service account: ${effectiveServiceAccount(after)}`);
  }
  const images = [...imagesOf(after)].map(([where, image]) => `${where}: ${image}`);
  if (images.length > 0) lines.push(`Images: ${images.join(", ")}`);
  const host = hostAccessOf(after, []);
  if (host.length > 0) lines.push(`Host access: ${host.join("; ")}`);
  const optOuts = sandboxOptOutsOf(after, change.annotations?.after);
  if (optOuts.length > 0) lines.push(`Sandbox opt-outs: ${optOuts.join("; ")}`);
  return lines;
}

/** The pod template (metadata and spec) inside a workload object, for the kinds that have one; a Pod is its own. */
export function podTemplateOfWorkload(kind: string, manifest: unknown): Json | undefined {
  const spec = obj(obj(manifest).spec);
  switch (kind) {
    case "Pod":
      return obj(manifest);
    case "Deployment":
    case "StatefulSet":
    case "DaemonSet":
    case "ReplicaSet":
    case "Job":
      return obj(spec.template);
    case "CronJob":
      return obj(obj(obj(spec.jobTemplate).spec).template);
    default:
      return undefined;
  }
}

/** The pod spec inside a workload manifest, for the kinds that have one. */
export function podSpecOfWorkload(kind: string, manifest: unknown): unknown {
  const template = podTemplateOfWorkload(kind, manifest);
  return template === undefined ? undefined : template.spec;
}
