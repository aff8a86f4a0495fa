import { z } from "zod";
import { parseAllDocuments } from "yaml";
import { DeputyError } from "../../../core/errors.ts";
import { isKubeApiError } from "../../../core/kube/errors.ts";
import { validateName } from "../../../core/kube/names.ts";
import type { KubeObject } from "../../../core/kube/types.ts";
import { APPLY_KINDS, applyObjectPath, isApplyKind } from "../../../core/actions/apply-kinds.ts";
import { cleanForGit } from "../../../core/actions/diff.ts";
import * as actions from "../../../core/actions/types/index.ts";
import { refusal } from "../../policy/types.ts";
import { toolError } from "../../tool.ts";
import { namespacePolicy } from "../read/support/scope.ts";
import { defineWriteTool, precheck, propose } from "./support/propose.ts";
import { writeInput } from "./support/schema.ts";
import { targetOf } from "./support/targets.ts";

export const APPLY_KIND_RULE = "apply-kind";
const type = actions.applyManifest;

const inputSchema = writeInput({
  manifest: z
    .string()
    .min(1)
    .max(64 * 1024)
    .describe("one Kubernetes object as YAML or JSON, with metadata.name and metadata.namespace"),
});

/** Parse one object from YAML/JSON and check it is something Deputy may apply; the reason when not. */
export function parseManifest(
  text: string,
): { object: Record<string, unknown> } | { problem: string; rule?: string } {
  let documents;
  try {
    documents = parseAllDocuments(text).filter((doc) => doc.contents !== null);
  } catch (error) {
    return { problem: `The manifest is not valid YAML: ${(error as Error).message}` };
  }
  if (!Array.isArray(documents) || documents.length !== 1) {
    return {
      problem: `Give exactly one object per apply_manifest call (found ${Array.isArray(documents) ? documents.length : 0}).`,
    };
  }
  const document = documents[0]!;
  if (document.errors.length > 0)
    return { problem: `The manifest is not valid YAML: ${document.errors[0]!.message}` };
  const object: unknown = document.toJS();
  if (object === null || typeof object !== "object" || Array.isArray(object)) {
    return {
      problem:
        "The manifest must be a single Kubernetes object (a mapping with apiVersion, kind and metadata).",
    };
  }
  const record = object as Record<string, unknown>;
  const kind = record.kind;
  if (typeof kind !== "string" || !isApplyKind(kind)) {
    return {
      rule: APPLY_KIND_RULE,
      problem: refusal(
        APPLY_KIND_RULE,
        `kind ${typeof kind === "string" ? kind : "(missing)"} cannot be applied by Deputy. Allowed kinds: ${Object.keys(APPLY_KINDS).join(", ")}; RBAC, Secrets, CRDs, webhooks and Namespaces never are.`,
      ),
    };
  }
  if (record.apiVersion !== APPLY_KINDS[kind].apiVersion) {
    return {
      problem: `apiVersion of a ${kind} must be ${APPLY_KINDS[kind].apiVersion} (got ${String(record.apiVersion)}).`,
    };
  }
  const meta = record.metadata as Record<string, unknown> | undefined;
  if (!meta || typeof meta !== "object") return { problem: "metadata with name and namespace is required." };
  for (const field of ["name", "namespace"] as const) {
    const value = meta[field];
    if (typeof value !== "string") return { problem: `metadata.${field} is required.` };
    const problem = validateName(value, `metadata.${field}`);
    if (problem) return { problem };
  }
  for (const field of ["uid", "resourceVersion", "managedFields", "generation", "creationTimestamp"]) {
    if (field in meta)
      return { problem: `metadata.${field} is set by the server; remove it from the manifest.` };
  }
  if ("status" in record) return { problem: "status is set by the server; remove it from the manifest." };
  return { object: record };
}

export const applyManifest = defineWriteTool<typeof inputSchema.shape>(type, {
  title: "Apply a manifest (needs approval)",
  description: `For changes no other write tool covers: propose creating or updating ONE object from YAML by server-side apply. Kinds: ${Object.keys(APPLY_KINDS).join(", ")} (never RBAC, Secrets, CRDs, webhooks or Namespaces). The card shows every field it sets; pods with host access are refused; Secret references, service-account changes and DaemonSets are high risk; a server-side dry run runs first.`,
  inputSchema,
  annotations: { idempotentHint: true },
  async handler(args, context) {
    const { deps, signal } = context;
    const parsed = parseManifest(args.manifest);
    if ("problem" in parsed) {
      if (parsed.rule) {
        deps.audit.record({
          kind: "policy_decision",
          tool: "apply_manifest",
          decision: "deny",
          rule: parsed.rule,
          message: parsed.problem,
          actor: context.caller.requester,
          cluster: deps.config.kube.clusterName,
        });
        return toolError(parsed.problem, { refused: { rule: parsed.rule } });
      }
      throw new DeputyError("INPUT_INVALID", parsed.problem);
    }
    const manifest = parsed.object;
    const meta = manifest.metadata as { name: string; namespace: string };
    const kind = manifest.kind as keyof typeof APPLY_KINDS;
    const refused = precheck(
      context,
      type,
      { manifest },
      { kind, namespace: meta.namespace, name: meta.name },
    );
    if (refused) return refused;
    namespacePolicy(deps).assert(meta.namespace);
    let live: KubeObject | undefined;
    try {
      live = await deps.kube.get<KubeObject>(
        applyObjectPath(kind, meta.namespace, meta.name),
        undefined,
        signal,
      );
    } catch (error) {
      if (!isKubeApiError(error, 404)) throw error;
    }
    // Whether it changes anything is the API server's answer to say (the proposal's no-change rule):
    // a manifest that names the live values can still prune or default something.
    return propose(context, type, {
      rawArguments: { manifest },
      arguments: { namespace: meta.namespace, kind, name: meta.name, manifest },
      evidence: live ? { live: cleanForGit(live) } : {},
      target: live ? targetOf(kind, live) : { kind, namespace: meta.namespace, name: meta.name },
      object: live ?? (manifest as KubeObject),
    });
  },
});
