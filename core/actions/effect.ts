import { createHash } from "node:crypto";
import { z } from "zod";
import { canonicalJson } from "../audit/log.ts";
import { isSensitiveKey, redactText } from "../untrusted/redact.ts";

/**
 * The effect of a write, as the API server itself answers it: the object
 * after merge, defaulting and admission (a server-side dry run), beside the
 * live object it replaces. What an approver approves is this result, shown as
 * a complete field-by-field diff; what the executor runs is bound to it by a
 * digest over the normalised result (repeated as a dry run with its own
 * credential right before the write).
 *
 * Everything here is pure: the proposal path and the executor call it with
 * what they read.
 */

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * Server bookkeeping, left out of both the view and the comparison: one
 * explicit list. Everything else the API server answers is part of the result.
 */
export const BOOKKEEPING = {
  /** Top-level fields: status is the controllers' report, not the change. */
  top: ["status"],
  metadata: [
    "managedFields",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "uid",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
  ],
  /** Annotations the deployment controller maintains on a Deployment on its own. */
  annotations: ["deployment.kubernetes.io/revision"],
} as const;

/** A copy without server bookkeeping (see BOOKKEEPING). */
export function normaliseObject(object: unknown): Json {
  if (!isObject(object)) return {};
  const without = (from: Json, keys: readonly string[]): Json =>
    Object.fromEntries(Object.entries(from).filter(([key]) => !keys.includes(key)));
  const out = without(structuredClone(object), BOOKKEEPING.top);
  if (isObject(out.metadata)) {
    const meta = without(out.metadata, BOOKKEEPING.metadata);
    if (isObject(meta.annotations) && out.kind === "Deployment") {
      const annotations = without(meta.annotations, BOOKKEEPING.annotations);
      if (Object.keys(annotations).length > 0) meta.annotations = annotations;
      else delete meta.annotations;
    }
    out.metadata = meta;
  }
  return out;
}

/**
 * Values the API server allocates anew on every dry run of a create (and
 * only then: an update keeps them, and they are compared): a
 * Service's cluster IPs and node ports, and anything derived from the new
 * object's own uid (a Job's generated selector labels). They are shown, but
 * the comparison of two answers leaves them out, or no create could ever be
 * repeated as the same answer.
 */
function comparable(object: unknown, created: boolean): Json {
  const uid = isObject(object) && isObject(object.metadata) ? object.metadata.uid : undefined;
  const out = normaliseObject(object);
  // An update keeps what was allocated when the object was created: then it is compared too.
  if (!created) return out;
  const spec = out.spec;
  if (out.kind === "Service" && isObject(spec)) {
    delete spec.clusterIP;
    delete spec.clusterIPs;
    delete spec.healthCheckNodePort;
    if (Array.isArray(spec.ports)) {
      spec.ports = spec.ports.map((port: unknown) => {
        if (!isObject(port)) return port;
        const { nodePort: _allocated, ...rest } = port;
        return rest;
      });
    }
  }
  if (typeof uid !== "string" || uid === "") return out;
  const replaceUid = (value: unknown): unknown => {
    if (value === uid) return "(the object's own uid)";
    if (Array.isArray(value)) return value.map(replaceUid);
    if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replaceUid(v)]));
    return value;
  };
  return replaceUid(out) as Json;
}

/**
 * sha256 over the normalised result: what the approval binds the run to.
 * `created`: the request creates the object (allocated values left out).
 */
export function resultDigest(result: unknown, options: { created: boolean }): string {
  return createHash("sha256")
    .update("deputy-result-v1\n")
    .update(canonicalJson(comparable(result, options.created)))
    .digest("hex");
}

export const effectSchema = z.strictObject({
  /** The object the request writes. */
  object: z.strictObject({
    kind: z.string(),
    namespace: z.string().optional(),
    name: z.string(),
  }),
  /** The live object when proposed (normalised); absent: the request creates it. */
  live: z.record(z.string(), z.unknown()).optional(),
  /** The API server's dry-run answer (normalised). */
  result: z.record(z.string(), z.unknown()),
  /** The API server's `Warning` headers for the dry run (e.g. Pod Security in warn mode). */
  warnings: z.array(z.string()),
  /** resultDigest of the API server's answer (allocated values and the new uid left out). */
  digest: z.string().regex(/^[0-9a-f]{64}$/),
});
export type Effect = z.infer<typeof effectSchema>;

/** One field that differs between the live object and the result. */
export interface FieldChange {
  path: string;
  /** "changed": both sides hold it; "added": only the result; "removed": only the live object. */
  change: "changed" | "added" | "removed";
  before?: unknown;
  after?: unknown;
}

/**
 * Keys that identify list elements, so that a list reads as the API server
 * merges it (a new container is an added container, not an edit of the first
 * one). Lists of objects that all carry a distinct `name` are keyed by it
 * too; every other list is compared element by element.
 */
const LIST_KEYS: Record<string, string> = {
  containers: "name",
  initContainers: "name",
  ephemeralContainers: "name",
  volumes: "name",
  env: "name",
  volumeMounts: "mountPath",
  volumeDevices: "devicePath",
  imagePullSecrets: "name",
  ports: "name",
  hostAliases: "ip",
  resourceClaims: "name",
  topologySpreadConstraints: "topologyKey",
};

function keyOf(list: readonly unknown[], field: string): string | undefined {
  const wanted = LIST_KEYS[field];
  const candidates = wanted ? [wanted, "name"] : ["name"];
  for (const key of candidates) {
    const values = list.map((item) => (isObject(item) ? item[key] : undefined));
    if (
      values.every((value) => typeof value === "string" || typeof value === "number") &&
      new Set(values.map(String)).size === values.length
    ) {
      return key;
    }
  }
  return undefined;
}

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;
/** A list element's key value that needs no quotes: no bracket, quote, space or `=` can be read into it. */
const PLAIN_KEY_VALUE = /^[A-Za-z0-9_./:-]+$/;

/** "name=app", or `name="odd ] name"` when the value could be misread. */
function keyed(key: string, value: unknown): string {
  const text = String(value);
  return `${key}=${PLAIN_KEY_VALUE.test(text) ? text : JSON.stringify(text)}`;
}

function child(path: string, key: string): string {
  const segment = PLAIN_KEY.test(key) ? key : JSON.stringify(key);
  if (path === "") return PLAIN_KEY.test(key) ? key : `[${segment}]`;
  return PLAIN_KEY.test(key) ? `${path}.${key}` : `${path}[${segment}]`;
}

/** Every leaf of a value, with its path: an added or removed subtree shows each field. */
function leaves(value: unknown, path: string, out: [string, unknown][], field = ""): void {
  if (isObject(value) && Object.keys(value).length > 0) {
    for (const [key, inner] of Object.entries(value)) leaves(inner, child(path, key), out, key);
    return;
  }
  if (Array.isArray(value) && value.length > 0) {
    const key = keyOf(value, field);
    value.forEach((item, index) =>
      leaves(item, `${path}[${key ? keyed(key, (item as Json)[key]) : index}]`, out),
    );
    return;
  }
  out.push([path, value]);
}

/**
 * Every field that differs between `before` (the live object, or nothing for
 * a create) and `after` (the result), in both directions: added, changed and
 * removed fields each get an entry, lists are matched by their merge key, and
 * an order change of a keyed list is a change of its own (env order decides
 * what `$(VAR)` refers to).
 */
export function diffObjects(before: unknown, after: unknown): FieldChange[] {
  const changes: FieldChange[] = [];
  const added = (value: unknown, path: string, field: string): void => {
    const found: [string, unknown][] = [];
    leaves(value, path, found, field);
    for (const [leafPath, leaf] of found) changes.push({ path: leafPath, change: "added", after: leaf });
  };
  const removed = (value: unknown, path: string, field: string): void => {
    const found: [string, unknown][] = [];
    leaves(value, path, found, field);
    for (const [leafPath, leaf] of found) changes.push({ path: leafPath, change: "removed", before: leaf });
  };
  const walk = (have: unknown, want: unknown, path: string, field: string): void => {
    if (isObject(have) && isObject(want)) {
      for (const [key, value] of Object.entries(want)) {
        if (Object.hasOwn(have, key)) walk(have[key], value, child(path, key), key);
        else added(value, child(path, key), key);
      }
      for (const [key, value] of Object.entries(have)) {
        if (!Object.hasOwn(want, key)) removed(value, child(path, key), key);
      }
      return;
    }
    if (Array.isArray(have) && Array.isArray(want) && (have.length > 0 || want.length > 0)) {
      const key = keyOf(want.length > 0 ? want : have, field);
      if (
        key !== undefined &&
        (have.length === 0 || keyOf(have, field) === key) &&
        (want.length === 0 || keyOf(want, field) === key)
      ) {
        const id = (item: unknown): string => String((item as Json)[key]);
        const old = new Map(have.map((item) => [id(item), item] as const));
        const next = new Map(want.map((item) => [id(item), item] as const));
        for (const [name, item] of next) {
          const at = `${path}[${keyed(key, name)}]`;
          if (old.has(name)) walk(old.get(name), item, at, "");
          else added(item, at, "");
        }
        for (const [name, item] of old)
          if (!next.has(name)) removed(item, `${path}[${keyed(key, name)}]`, "");
        // Order decides meaning in some lists (env: $(VAR) refers to earlier entries only), so
        // the whole order is shown when entries kept swap places or new ones go anywhere but last.
        const before = [...old.keys()];
        const after = [...next.keys()];
        const kept = after.filter((name) => old.has(name));
        const keptOrderSame = kept.join("\u0000") === before.filter((name) => next.has(name)).join("\u0000");
        const addedLast = after.slice(kept.length).every((name) => !old.has(name));
        if (!keptOrderSame || (!addedLast && kept.length > 0)) {
          changes.push({ path: `${path} (order)`, change: "changed", before, after });
        }
        return;
      }
      const shared = Math.min(have.length, want.length);
      for (let index = 0; index < shared; index++) walk(have[index], want[index], `${path}[${index}]`, "");
      for (let index = shared; index < want.length; index++) added(want[index], `${path}[${index}]`, "");
      for (let index = shared; index < have.length; index++) removed(have[index], `${path}[${index}]`, "");
      return;
    }
    if (canonicalJson(have) === canonicalJson(want)) return;
    if ((isObject(want) || Array.isArray(want)) && !(isObject(have) || Array.isArray(have))) {
      // A scalar became a structure: the old value goes, every new field is shown.
      changes.push({ path, change: "removed", before: have });
      added(want, path, field);
      return;
    }
    if ((isObject(have) || Array.isArray(have)) && !(isObject(want) || Array.isArray(want))) {
      removed(have, path, field);
      changes.push({ path, change: "added", after: want });
      return;
    }
    changes.push({ path, change: "changed", before: have, after: want });
  };
  if (before === undefined) added(after, "", "");
  else walk(before, after, "", "");
  return changes.filter((c) => !(c.path === "" && c.change === "added" && c.after === undefined));
}

/**
 * A value as the approver reads it: JSON, with every control, format and
 * invisible character (tabs, newlines, bidi overrides, zero-width joiners)
 * written as an escape, so nothing in a value can hide another part of it.
 */
export function showValue(value: unknown): string {
  if (value === undefined) return "(absent)";
  return JSON.stringify(value).replace(
    // Backticks too: Slack's code block would otherwise have to change them to be shown at all.
    /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\u00a0\u2000-\u200a\u205f\u3000`]/gu,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** "spec.replicas: 2 → 3", "…image: (added) "x"", "…readOnlyRootFilesystem: true → (removed)". */
export function changeLine(change: FieldChange): string {
  switch (change.change) {
    case "added":
      return `${change.path}: (added) ${showValue(change.after)}`;
    case "removed":
      return `${change.path}: ${showValue(change.before)} → (removed)`;
    case "changed":
      return `${change.path}: ${showValue(change.before)} → ${showValue(change.after)}`;
  }
}

/**
 * The key a leaf's value is stored under, for the key-name secret rule: an
 * env entry's value is under its variable's name, a map entry under its key.
 */
function leafKey(path: string): string {
  const env = /(?:^|\.)env\[name=("(?:[^"\\]|\\.)*"|[^\]"]+)\]\.value$/.exec(path);
  if (env) return env[1]!.startsWith('"') ? (JSON.parse(env[1]!) as string) : env[1]!;
  const last = /(?:\.([A-Za-z_][A-Za-z0-9_-]*)|\["((?:[^"\\]|\\.)*)"\])$/.exec(path);
  if (last?.[1] !== undefined) return last[1];
  return last?.[2] !== undefined ? (JSON.parse(`"${last[2]}"`) as string) : "";
}

function looksSecret(value: unknown, key: string): boolean {
  return (
    typeof value === "string" &&
    value !== "" &&
    (redactText(value) !== value || (key !== "" && isSensitiveKey(key)))
  );
}

/**
 * Fields whose shown value looks like a credential (the redaction rules,
 * applied to the raw string; or a literal under a secret-named key). A view
 * is never redacted, so such a change cannot be shown, so it cannot be
 * proposed: the answer asks for a Secret reference instead. Removed fields
 * are named without a value that looks like one (effectChangeLines), so
 * they do not count.
 */
export function secretLiteralsIn(changes: readonly FieldChange[]): string[] {
  const found: string[] = [];
  for (const change of changes) {
    if (change.change === "removed") continue;
    const values = change.change === "changed" ? [change.before, change.after] : [change.after];
    const key = leafKey(change.path);
    if (values.some((value) => looksSecret(value, key))) found.push(change.path);
  }
  return found;
}

/**
 * The view's lines: every change in full. A removed value that looks like a
 * credential is named without its value: it is going away, nothing of it runs.
 */
export function effectChangeLines(changes: readonly FieldChange[]): string[] {
  return changes.map((change) =>
    change.change === "removed" && looksSecret(change.before, leafKey(change.path))
      ? `${change.path}: (removed; its old value looks like a credential and is not repeated)`
      : changeLine(change),
  );
}
