import { z } from "zod";
import { defineActionType, type WriteRequest } from "../action-type.ts";
import { APPLY_KINDS, applyObjectPath, isApplyKind, type ApplyKind } from "../apply-kinds.ts";
import { fieldChanges } from "../diff.ts";
import { podSpecOfWorkload, podSpecSummary } from "../pod-spec.ts";
import { namespaceName, objectName } from "./support.ts";

/**
 * apply_manifest: server-side apply of one object of an allowed kind (field
 * manager deputy, never `force`: a field owned by another manager is a 409).
 * The approver sees the API server's dry-run answer: the object after the
 * manifest is merged into the live one, which is more than the manifest
 * names (list entries it adds to, fields it prunes).
 */
const object = z.record(z.string(), z.unknown());

/** The apply request: the manifest with its identity fields stated by Deputy. */
function applyRequest(args: {
  namespace: string;
  kind: string;
  name: string;
  manifest: Record<string, unknown>;
}): WriteRequest {
  const kind = args.kind as ApplyKind;
  return {
    object: { kind, namespace: args.namespace, name: args.name },
    method: "PATCH",
    path: applyObjectPath(kind, args.namespace, args.name),
    patchType: "apply",
    body: {
      ...args.manifest,
      apiVersion: APPLY_KINDS[kind].apiVersion,
      kind,
      metadata: {
        ...((args.manifest.metadata as Record<string, unknown> | undefined) ?? {}),
        name: args.name,
        namespace: args.namespace,
      },
    },
    query: { fieldManager: "deputy" },
  };
}

export const applyManifest = defineActionType({
  name: "apply_manifest",
  args: z.strictObject({
    namespace: namespaceName,
    kind: z.string().refine(isApplyKind, "kind is not one Deputy may apply"),
    name: objectName,
    manifest: object,
  }),
  /** The live object without status and server bookkeeping, when it exists. */
  evidence: z.strictObject({ live: object.optional() }),
  roleKind: (args) => args.kind,
  podTemplates: (args, ev) => {
    const after = podSpecOfWorkload(args.kind, args.manifest);
    if (after === undefined) return [];
    const before = ev.live ? podSpecOfWorkload(args.kind, ev.live) : undefined;
    return [
      {
        workload: `${args.kind} ${args.namespace}/${args.name}`,
        kind: args.kind,
        ...(before === undefined ? {} : { before }),
        after,
      },
    ];
  },
  view: (args, ev) => {
    const what = `${args.kind} ${args.namespace}/${args.name}`;
    const podSpec = podSpecOfWorkload(args.kind, args.manifest);
    return {
      summary: ev.live ? `Update ${what} by server-side apply.` : `Create ${what} by server-side apply.`,
      security:
        podSpec === undefined ? [] : podSpecSummary({ workload: what, kind: args.kind, after: podSpec }),
      changes: [
        ev.live ? `Changes to the live ${args.kind}:` : `New ${args.kind}; every field it sets:`,
        ...fieldChanges(ev.live, args.manifest),
      ],
      notes: [
        "Applied by server-side apply (field manager deputy, no force).",
        ...(ev.live
          ? [
              "Fields Deputy applied to this object before and this manifest leaves out are removed; fields other managers own stay.",
            ]
          : []),
      ],
    };
  },
  request: (args) => applyRequest(args),
  async run(context) {
    const args = context.args;
    await context.writeApproved();
    const created = context.effect?.live === undefined;
    return {
      message: `${args.kind} ${args.namespace}/${args.name} ${created ? "created" : "updated"} (server-side apply, bound to the approved dry-run result).`,
      kubeStatus: created ? 201 : 200,
    };
  },
});
