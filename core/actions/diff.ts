import { stringify } from "yaml";

/**
 * Diffs for humans: a field-by-field preview of what a manifest changes on the
 * live object (the approval card), and a unified YAML diff for a Git commit
 * (propose_git_change). Both work on the object with server-managed fields
 * removed, so they show intent, not bookkeeping.
 */

const SERVER_FIELDS = [
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "managedFields",
  "selfLink",
];
const SERVER_ANNOTATIONS = [
  "kubectl.kubernetes.io/last-applied-configuration",
  "deployment.kubernetes.io/revision",
];

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** The object as it would sit in Git: no status, no server bookkeeping. */
export function cleanForGit(object: Json): Json {
  const { status: _status, ...rest } = structuredClone(object);
  const meta = rest.metadata;
  if (!isObject(meta)) return rest;
  const kept = Object.fromEntries(Object.entries(meta).filter(([key]) => !SERVER_FIELDS.includes(key)));
  if (isObject(kept.annotations)) {
    const annotations = Object.fromEntries(
      Object.entries(kept.annotations).filter(([key]) => !SERVER_ANNOTATIONS.includes(key)),
    );
    if (Object.keys(annotations).length > 0) kept.annotations = annotations;
    else delete kept.annotations;
  }
  return { ...rest, metadata: kept };
}

export function toYaml(object: unknown): string {
  return stringify(object, { lineWidth: 0, sortMapEntries: false });
}

function show(value: unknown): string {
  if (value === undefined) return "(absent)";
  // Values in full: a cut value could hide exactly the part that matters.
  return JSON.stringify(value);
}

/**
 * "spec.replicas: 2 → 3" for every leaf the manifest sets that differs from
 * the live object, lists walked element by element
 * ("spec.template.spec.containers[0].securityContext.privileged: (absent) →
 * true"), so every field that will change has a line of its own and no value
 * is shortened. An empty object or list the manifest sets is a leaf too.
 */
export function fieldChanges(live: unknown, desired: Json): string[] {
  const lines: string[] = [];
  const walk = (want: unknown, have: unknown, path: string): void => {
    if (isObject(want) && Object.keys(want).length > 0) {
      for (const [key, value] of Object.entries(want)) {
        if (path === "" && (key === "apiVersion" || key === "kind")) continue;
        if (path === "metadata" && (key === "name" || key === "namespace")) continue;
        walk(value, isObject(have) ? have[key] : undefined, path ? `${path}.${key}` : key);
      }
      return;
    }
    if (Array.isArray(want) && want.length > 0) {
      want.forEach((item, index) =>
        walk(item, Array.isArray(have) ? have[index] : undefined, `${path}[${index}]`),
      );
      if (Array.isArray(have) && have.length > want.length) {
        lines.push(
          `${path}: ${have.length - want.length} trailing item(s) removed (${show(have.slice(want.length))})`,
        );
      }
      return;
    }
    if (JSON.stringify(want) !== JSON.stringify(have)) lines.push(`${path}: ${show(have)} → ${show(want)}`);
  };
  walk(desired, live, "");
  return lines;
}

/** Deep merge of a partial object into a base (maps merge, everything else replaces). */
export function mergeInto(base: Json, patch: Json): Json {
  const out: Json = structuredClone(base);
  for (const [key, value] of Object.entries(patch)) {
    const current = out[key];
    out[key] = isObject(value) && isObject(current) ? mergeInto(current, value) : structuredClone(value);
  }
  return out;
}

/** A unified diff (3 lines of context) between two texts, line by line. */
export function unifiedDiff(
  before: string,
  after: string,
  fromName: string,
  toName: string,
  context = 3,
): string {
  const a = before.split("\n");
  const b = after.split("\n");
  if (a.at(-1) === "") a.pop();
  if (b.at(-1) === "") b.pop();
  // Longest common subsequence table; objects are small (hundreds of lines).
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  type Op = { tag: " " | "-" | "+"; line: string; ai: number; bi: number };
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) ops.push({ tag: " ", line: a[i++]!, ai: i, bi: ++j });
    else if (i < a.length && (j >= b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      ops.push({ tag: "-", line: a[i++]!, ai: i, bi: j });
    } else ops.push({ tag: "+", line: b[j++]!, ai: i, bi: j });
  }
  const changed = ops.map((op, index) => (op.tag === " " ? -1 : index)).filter((index) => index >= 0);
  if (changed.length === 0) return "";
  const out = [`--- ${fromName}`, `+++ ${toName}`];
  let start = 0;
  while (start < changed.length) {
    let end = start;
    while (end + 1 < changed.length && changed[end + 1]! - changed[end]! <= context * 2 + 1) end++;
    const from = Math.max(0, changed[start]! - context);
    const to = Math.min(ops.length - 1, changed[end]! + context);
    const hunk = ops.slice(from, to + 1);
    const aStart = hunk.find((op) => op.tag !== "+")?.ai ?? 0;
    const bStart = hunk.find((op) => op.tag !== "-")?.bi ?? 0;
    const aLen = hunk.filter((op) => op.tag !== "+").length;
    const bLen = hunk.filter((op) => op.tag !== "-").length;
    out.push(`@@ -${aStart}${aLen === 1 ? "" : `,${aLen}`} +${bStart}${bLen === 1 ? "" : `,${bLen}`} @@`);
    for (const op of hunk) out.push(`${op.tag}${op.line}`);
    start = end + 1;
  }
  return `${out.join("\n")}\n`;
}
