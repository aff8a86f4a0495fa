import { z } from "zod";
import { parse } from "yaml";
import { DeputyError } from "../../../core/errors.ts";
import { containerName } from "../../../core/kube/names.ts";
import type { KubeObject } from "../../../core/kube/types.ts";
import { APPLY_KINDS, applyObjectPath, type ApplyKind } from "../../../core/actions/apply-kinds.ts";
import { argoCdApplication } from "../../policy/argocd-managed.ts";
import { defineTool, toolText } from "../../tool.ts";
import type { McpDeps } from "../../deps.ts";
import { cleanForGit, mergeInto, toYaml, unifiedDiff } from "../../../core/actions/diff.ts";
import { namespaceArg } from "./support/args.ts";
import { namespacePolicy, notFound } from "./support/scope.ts";

type Json = Record<string, unknown>;

const amounts = z.strictObject({ cpu: z.string().max(32).optional(), memory: z.string().max(32).optional() });

/** Which fields each change type takes, and which of them it needs. */
const CHANGE_FIELDS = {
  restart: { allowed: [], required: [] },
  scale: { allowed: ["replicas"], required: ["replicas"] },
  image: { allowed: ["container", "image"], required: ["container", "image"] },
  resources: { allowed: ["container", "requests", "limits"], required: ["container"] },
  env: { allowed: ["container", "set", "remove"], required: ["container"] },
  manifest: { allowed: ["manifest"], required: ["manifest"] },
} as const satisfies Record<string, { allowed: readonly string[]; required: readonly string[] }>;

// One flat object checked per type, rather than a union of six objects: the
// same contract, in a fraction of the tokens tools/list costs on every turn.
const change = z
  .strictObject({
    type: z.enum(
      Object.keys(CHANGE_FIELDS) as [keyof typeof CHANGE_FIELDS, ...(keyof typeof CHANGE_FIELDS)[]],
    ),
    replicas: z.number().int().min(0).max(1000).optional(),
    container: containerName.optional(),
    image: z.string().min(1).max(512).optional(),
    requests: amounts.optional(),
    limits: amounts.optional(),
    set: z.record(z.string().max(128), z.string().max(4096)).optional(),
    remove: z.array(z.string().max(128)).max(50).optional(),
    manifest: z
      .string()
      .min(1)
      .max(64 * 1024)
      .optional(),
  })
  .superRefine((value, ctx) => {
    const fields: { allowed: readonly string[]; required: readonly string[] } = CHANGE_FIELDS[value.type];
    for (const key of fields.required) {
      if (value[key as keyof typeof value] === undefined)
        ctx.addIssue({ code: "custom", path: [key], message: `${key} is required for type "${value.type}"` });
    }
    for (const [key, given] of Object.entries(value)) {
      if (key !== "type" && given !== undefined && !fields.allowed.includes(key))
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: `${key} does not apply to type "${value.type}"`,
        });
    }
  });

const inputSchema = z.strictObject({
  kind: z.enum(Object.keys(APPLY_KINDS) as [ApplyKind, ...ApplyKind[]]),
  namespace: namespaceArg,
  name: z.string().min(1).max(253),
  change: change.describe(
    "scale: replicas; image: container, image; resources: container, requests, limits; env: container, set, remove; manifest: partial YAML to merge",
  ),
});

type Change = z.infer<typeof change>;

function containerIndex(object: Json, container: string): number {
  const containers = ((object.spec as Json | undefined)?.template as Json | undefined)?.spec as
    Json | undefined;
  const list = (containers?.containers ?? []) as { name: string }[];
  const index = list.findIndex((c) => c.name === container);
  if (index < 0) {
    throw new DeputyError(
      "INPUT_INVALID",
      `no container "${container}" (has ${list.map((c) => c.name).join(", ") || "none"})`,
    );
  }
  return index;
}

/** The object after the change, as it should be committed. */
export function applyChange(kind: string, live: Json, wanted: Change): Json {
  const next = structuredClone(live);
  if (wanted.type === "manifest") {
    const partial: unknown = parse(wanted.manifest ?? "");
    if (!partial || typeof partial !== "object" || Array.isArray(partial)) {
      throw new DeputyError("INPUT_INVALID", "change.manifest must be a YAML mapping");
    }
    return mergeInto(next, partial as Json);
  }
  if (kind !== "Deployment" && kind !== "StatefulSet" && kind !== "DaemonSet") {
    throw new DeputyError(
      "INPUT_INVALID",
      `change type ${wanted.type} applies to workloads, not ${kind}; use type "manifest"`,
    );
  }
  const spec = (next.spec ??= {}) as Json;
  const template = (spec.template ??= {}) as Json;
  if (wanted.type === "scale") {
    spec.replicas = wanted.replicas;
    return next;
  }
  if (wanted.type === "restart") {
    const meta = (template.metadata ??= {}) as Json;
    const annotations = (meta.annotations ??= {}) as Json;
    annotations["kubectl.kubernetes.io/restartedAt"] = new Date().toISOString();
    return next;
  }
  const podSpec = template.spec as Json;
  const containers = podSpec.containers as Json[];
  const target = containers[containerIndex(next, wanted.container ?? "")]!;
  if (wanted.type === "image") target.image = wanted.image;
  if (wanted.type === "resources") {
    const resources = (target.resources ??= {}) as Json;
    if (wanted.requests)
      resources.requests = { ...((resources.requests as Json | undefined) ?? {}), ...wanted.requests };
    if (wanted.limits)
      resources.limits = { ...((resources.limits as Json | undefined) ?? {}), ...wanted.limits };
  }
  if (wanted.type === "env") {
    let env = ((target.env as { name: string; value?: string }[] | undefined) ?? []).filter(
      (entry) => !(wanted.remove ?? []).includes(entry.name),
    );
    for (const [key, value] of Object.entries(wanted.set ?? {})) {
      const existing = env.find((entry) => entry.name === key);
      if (existing) existing.value = value;
      else env = [...env, { name: key, value }];
    }
    target.env = env;
  }
  return next;
}

export const proposeGitChange = defineTool<McpDeps, typeof inputSchema.shape>({
  name: "propose_git_change",
  title: "Propose a change as a Git diff",
  description:
    "When a write is refused with rule argocd-managed: the YAML diff to commit to Git instead, and the Argo CD application that syncs it. Changes nothing.",
  inputSchema,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler(args, { deps, signal }) {
    namespacePolicy(deps).assert(args.namespace);
    const live = await deps.kube
      .get<KubeObject>(applyObjectPath(args.kind, args.namespace, args.name), undefined, signal)
      .catch((error: unknown) =>
        notFound(deps, error, { kind: args.kind, namespace: args.namespace, name: args.name }, signal),
      );
    const before = cleanForGit(live as Json);
    let after: Json;
    try {
      after = applyChange(args.kind, before, args.change);
    } catch (error) {
      if (error instanceof DeputyError)
        throw new DeputyError("INPUT_INVALID", `propose_git_change: ${error.message}`);
      throw error;
    }
    const file = `${args.namespace}/${args.kind.toLowerCase()}-${args.name}.yaml`;
    const diff = unifiedDiff(toYaml(before), toYaml(after), `a/${file}`, `b/${file}`);
    const application = argoCdApplication(live);
    const where = application
      ? `Managed by Argo CD application "${application}": commit this change to the repository that application syncs; Argo CD applies it.`
      : "Not managed by Argo CD: this diff can be committed wherever the manifest lives.";
    if (!diff) {
      return toolText(`${args.kind} ${args.namespace}/${args.name} already looks like that; no diff.`, {
        diff: "",
        application,
      });
    }
    return toolText(
      `${where}\nThe file path is illustrative; apply the same hunk to your manifest.\n\n${diff}`,
      {
        diff,
        application,
        file,
      },
    );
  },
});
