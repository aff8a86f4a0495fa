import { readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { parseAllDocuments, visit, type Document } from "yaml";
import { z } from "zod";

/**
 * A tiny Kustomize renderer for exactly the subset manifests/ uses, so tests
 * need no kustomize binary: `resources` (files and directories with a
 * kustomization.yaml), `labels` (pairs, no selectors), `images`, `replicas`
 * and `patches` with a target and an inline JSON 6902 patch. Any other field
 * is an error rather than silently ignored, so a manifest can never rely on a
 * feature this renderer would skip.
 */

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [key: string]: unknown };
  [key: string]: unknown;
}

const targetSchema = z
  .object({ kind: z.string().min(1), name: z.string().min(1), namespace: z.string().min(1).optional() })
  .strict();

const operationSchema = z.discriminatedUnion("op", [
  z.object({ op: z.literal("add"), path: z.string(), value: z.unknown() }).strict(),
  z.object({ op: z.literal("replace"), path: z.string(), value: z.unknown() }).strict(),
  z.object({ op: z.literal("remove"), path: z.string() }).strict(),
]);
type Operation = z.infer<typeof operationSchema>;

const kustomizationSchema = z
  .object({
    apiVersion: z.literal("kustomize.config.k8s.io/v1beta1"),
    kind: z.literal("Kustomization"),
    resources: z.array(z.string().min(1)).min(1),
    labels: z
      .array(
        z
          .object({
            pairs: z.record(z.string(), z.string()),
            includeSelectors: z.literal(false).optional(),
            includeTemplates: z.boolean().optional(),
          })
          .strict(),
      )
      .optional(),
    images: z
      .array(
        z
          .object({
            name: z.string().min(1),
            newName: z.string().min(1).optional(),
            newTag: z.string().min(1).optional(),
            digest: z
              .string()
              .regex(/^sha256:[0-9a-f]{64}$/)
              .optional(),
          })
          .strict(),
      )
      .optional(),
    replicas: z
      .array(z.object({ name: z.string().min(1), count: z.number().int().min(0) }).strict())
      .optional(),
    patches: z.array(z.object({ target: targetSchema, patch: z.string().min(1) }).strict()).optional(),
  })
  .strict();

export class KustomizeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KustomizeError";
  }
}

/**
 * Plain scalars that YAML 1.1 (kubectl's parser) and YAML 1.2 (this one) read
 * differently: `0444` is octal 292 to kubectl but decimal 444 here; `yes`,
 * `on`, `off`… are booleans to kubectl but strings here. Refused, so the
 * objects tested are the objects kubectl applies.
 */
const AMBIGUOUS_PLAIN = /^(0[0-7]+|[-+]?0[0-9_]+|y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$/;

function refuseAmbiguousScalars(document: Document, file: string, index: number): void {
  visit(document, {
    Scalar(_key, node) {
      if (node.type === "PLAIN" && typeof node.source === "string" && AMBIGUOUS_PLAIN.test(node.source)) {
        throw new KustomizeError(
          `${file}: document ${index + 1}: "${node.source}" means different things to kubectl (YAML 1.1) and YAML 1.2; quote it or write numbers in decimal`,
        );
      }
    },
  });
}

/** Parse every document of a YAML file; empty documents are skipped. */
export function readYamlDocuments(file: string): unknown[] {
  return parseYamlDocuments(readFileSync(file, "utf8"), file);
}

/** Parse every document of YAML text (named `file` in errors), as readYamlDocuments does. */
export function parseYamlDocuments(text: string, file: string): unknown[] {
  const documents = parseAllDocuments(text);
  const values: unknown[] = [];
  for (const [index, document] of documents.entries()) {
    if (document.errors.length > 0) {
      throw new KustomizeError(`${file}: document ${index + 1}: ${document.errors[0]!.message}`);
    }
    refuseAmbiguousScalars(document, file, index);
    const value: unknown = document.toJS();
    if (value !== null && value !== undefined) values.push(value);
  }
  return values;
}

const objectSchema = z
  .object({
    apiVersion: z.string().min(1),
    kind: z.string().min(1),
    metadata: z.object({ name: z.string().min(1), namespace: z.string().min(1).optional() }).loose(),
  })
  .loose();

/** The identity kustomize uses: group, kind, namespace and name. */
export function objectId(object: KubeObject): string {
  const group = object.apiVersion.includes("/") ? object.apiVersion.split("/")[0] : "";
  return `${group}/${object.kind}/${object.metadata.namespace ?? ""}/${object.metadata.name}`;
}

function readObjects(file: string): KubeObject[] {
  return kubeObjects(readYamlDocuments(file), file);
}

/** Documents checked to be Kubernetes objects (kind, apiVersion, a name). */
export function kubeObjects(documents: unknown[], file: string): KubeObject[] {
  return documents.map((value, index) => {
    const parsed = objectSchema.safeParse(value);
    if (!parsed.success) {
      const problem = parsed.error.issues[0]!;
      throw new KustomizeError(
        `${file}: document ${index + 1} is not a Kubernetes object (${problem.path.join(".")}: ${problem.message})`,
      );
    }
    return parsed.data as KubeObject;
  });
}

/** Render a kustomization directory into the list of objects it produces. */
export function renderKustomization(directory: string): KubeObject[] {
  const file = join(directory, "kustomization.yaml");
  let raw: unknown;
  try {
    raw = readYamlDocuments(file)[0];
  } catch (error) {
    if (error instanceof KustomizeError) throw error;
    throw new KustomizeError(`${file}: cannot be read (${(error as Error).message})`);
  }
  const parsed = kustomizationSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`,
    );
    throw new KustomizeError(`${file}: unsupported or invalid kustomization: ${problems.join("; ")}`);
  }
  const kustomization = parsed.data;

  const objects: KubeObject[] = [];
  const seen = new Map<string, string>();
  for (const entry of kustomization.resources) {
    const path = resolve(directory, entry);
    let isDirectory: boolean;
    try {
      isDirectory = statSync(path).isDirectory();
    } catch {
      throw new KustomizeError(`${file}: resource "${entry}" does not exist`);
    }
    const produced = isDirectory ? renderKustomization(path) : readObjects(path);
    for (const object of produced) {
      const id = objectId(object);
      const previous = seen.get(id);
      if (previous) {
        throw new KustomizeError(
          `${file}: ${id} is defined twice (in ${previous} and ${relative(directory, path)})`,
        );
      }
      seen.set(id, relative(directory, path) || ".");
      objects.push(object);
    }
  }

  for (const { target, patch } of kustomization.patches ?? []) {
    const matches = objects.filter(
      (object) =>
        object.kind === target.kind &&
        object.metadata.name === target.name &&
        (target.namespace === undefined || object.metadata.namespace === target.namespace),
    );
    if (matches.length === 0) {
      throw new KustomizeError(`${file}: patch target ${JSON.stringify(target)} matches no resource`);
    }
    const operations = z.array(operationSchema).safeParse(readYamlString(patch, file));
    if (!operations.success) {
      throw new KustomizeError(`${file}: patch for ${target.kind}/${target.name} is not a JSON 6902 patch`);
    }
    for (const object of matches) {
      for (const operation of operations.data)
        applyOperation(object, operation, `${file}: ${target.kind}/${target.name}`);
    }
  }

  for (const { pairs, includeTemplates } of kustomization.labels ?? []) {
    for (const object of objects) {
      object.metadata.labels = { ...object.metadata.labels, ...pairs };
      if (!includeTemplates) continue;
      // as kustomize does: pod templates and a StatefulSet's claim templates
      const claims =
        object.kind === "StatefulSet"
          ? (object.spec as { volumeClaimTemplates?: unknown[] }).volumeClaimTemplates
          : undefined;
      for (const template of [podTemplate(object), ...(claims ?? [])] as Array<
        Record<string, unknown> | undefined
      >) {
        if (!template) continue;
        const metadata = (template.metadata ??= {}) as { labels?: Record<string, string> };
        metadata.labels = { ...metadata.labels, ...pairs };
      }
    }
  }

  for (const image of kustomization.images ?? []) {
    let used = false;
    for (const object of objects) {
      for (const container of podContainers(object)) {
        const { name } = splitImage(container.image);
        if (name !== image.name) continue;
        used = true;
        const newName = image.newName ?? name;
        container.image = image.digest
          ? `${newName}@${image.digest}`
          : `${newName}${image.newTag ? `:${image.newTag}` : ""}`;
      }
    }
    if (!used) throw new KustomizeError(`${file}: image "${image.name}" is used by no container`);
  }

  for (const { name, count } of kustomization.replicas ?? []) {
    const targets = objects.filter(
      (object) =>
        object.metadata.name === name && ["Deployment", "StatefulSet", "ReplicaSet"].includes(object.kind),
    );
    if (targets.length === 0) throw new KustomizeError(`${file}: replicas for "${name}" match no workload`);
    for (const object of targets) (object.spec as Record<string, unknown>).replicas = count;
  }

  return objects;
}

function readYamlString(text: string, file: string): unknown {
  const documents = parseAllDocuments(text);
  if (documents.length !== 1 || documents[0]!.errors.length > 0) {
    throw new KustomizeError(`${file}: an inline patch must be one valid YAML document`);
  }
  return documents[0]!.toJS();
}

function splitImage(image: unknown): { name: string } {
  if (typeof image !== "string") return { name: "" };
  const withoutDigest = image.split("@")[0]!;
  const lastSlash = withoutDigest.lastIndexOf("/");
  const lastColon = withoutDigest.lastIndexOf(":");
  return { name: lastColon > lastSlash ? withoutDigest.slice(0, lastColon) : withoutDigest };
}

/** The pod template of a workload, if it has one. */
export function podTemplate(object: KubeObject): Record<string, unknown> | undefined {
  const spec = object.spec as Record<string, unknown> | undefined;
  if (!spec) return undefined;
  if (object.kind === "CronJob") {
    const jobSpec = (spec.jobTemplate as { spec?: Record<string, unknown> } | undefined)?.spec;
    return jobSpec?.template as Record<string, unknown> | undefined;
  }
  if (["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"].includes(object.kind)) {
    return spec.template as Record<string, unknown> | undefined;
  }
  return undefined;
}

function podContainers(object: KubeObject): Array<{ image?: unknown }> {
  const podSpec = (podTemplate(object)?.spec ?? (object.kind === "Pod" ? object.spec : undefined)) as
    { containers?: Array<{ image?: unknown }>; initContainers?: Array<{ image?: unknown }> } | undefined;
  return [...(podSpec?.containers ?? []), ...(podSpec?.initContainers ?? [])];
}

function decodePointer(path: string, where: string): string[] {
  if (!path.startsWith("/")) throw new KustomizeError(`${where}: patch path "${path}" must start with "/"`);
  return path
    .slice(1)
    .split("/")
    .map((token) => token.replaceAll("~1", "/").replaceAll("~0", "~"));
}

/** Apply one JSON 6902 operation (add, replace, remove) in place. */
export function applyOperation(document: unknown, operation: Operation, where = "patch"): void {
  const tokens = decodePointer(operation.path, where);
  const last = tokens.pop();
  if (last === undefined) throw new KustomizeError(`${where}: cannot patch the whole document`);
  let parent: unknown = document;
  for (const token of tokens) {
    const next = childOf(parent, token);
    if (next === undefined || next === null || typeof next !== "object") {
      throw new KustomizeError(`${where}: path ${operation.path} does not exist (at "${token}")`);
    }
    parent = next;
  }
  if (Array.isArray(parent)) {
    const index = last === "-" ? parent.length : Number(last);
    if (!Number.isInteger(index) || index < 0 || index > parent.length) {
      throw new KustomizeError(`${where}: index "${last}" is out of range in ${operation.path}`);
    }
    if (operation.op === "add") parent.splice(index, 0, operation.value);
    else if (index >= parent.length) {
      throw new KustomizeError(`${where}: path ${operation.path} does not exist`);
    } else if (operation.op === "replace") parent[index] = operation.value;
    else parent.splice(index, 1);
    return;
  }
  if (parent === null || typeof parent !== "object") {
    throw new KustomizeError(`${where}: path ${operation.path} does not exist`);
  }
  const record = parent as Record<string, unknown>;
  if (operation.op !== "add" && !Object.hasOwn(record, last)) {
    throw new KustomizeError(`${where}: path ${operation.path} does not exist`);
  }
  if (operation.op === "remove") Reflect.deleteProperty(record, last);
  else record[last] = operation.value;
}

function childOf(parent: unknown, token: string): unknown {
  if (Array.isArray(parent)) return /^\d+$/.test(token) ? parent[Number(token)] : undefined;
  if (parent !== null && typeof parent === "object" && Object.hasOwn(parent, token)) {
    return (parent as Record<string, unknown>)[token];
  }
  return undefined;
}

/** The manifests directory of this repository. */
export const MANIFESTS_DIR = resolve(dirname(new URL(import.meta.url).pathname), "../../manifests");
