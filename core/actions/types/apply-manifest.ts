import { z } from "zod";
import { isKubeApiError } from "../../kube/errors.ts";
import { ActionFailed, assertUnchanged, defineActionType, type ObjectMeta } from "../action-type.ts";
import { APPLY_KINDS, applyObjectPath, isApplyKind, type ApplyKind } from "../apply-kinds.ts";
import { fieldChanges } from "../diff.ts";
import { podSpecOfWorkload, podSpecSummary } from "../pod-spec.ts";
import { namespaceName, objectName } from "./support.ts";

/**
 * apply_manifest: server-side apply of one object of an allowed kind, first as
 * a server-side dry run (admission, validation and field conflicts are found
 * before anything changes), then for real, with the live resourceVersion as
 * precondition. Never `force`: a field owned by another manager is a 409.
 * The approver sees every field the manifest sets (or changes), in full.
 */
const object = z.record(z.string(), z.unknown());

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
        "At execution: server-side dry run first, then the apply (field manager deputy, no force).",
        ...(ev.live
          ? [
              "Fields Deputy applied to this object before and this manifest leaves out are removed; fields other managers own stay.",
            ]
          : []),
      ],
    };
  },
  async run(context) {
    const args = context.args;
    const kind = args.kind as ApplyKind;
    const path = applyObjectPath(kind, args.namespace, args.name);
    const what = `${kind} ${args.namespace}/${args.name}`;
    let live: { metadata?: ObjectMeta } | undefined;
    try {
      live = await context.kube.get(path);
    } catch (error) {
      if (!isKubeApiError(error, 404)) throw error;
    }
    if (context.action.target.uid) {
      if (!live) throw new ActionFailed("NOT_FOUND", `${what} no longer exists; nothing was done.`, 404);
      assertUnchanged(live, context.action.target, what);
    } else if (live) {
      throw new ActionFailed(
        "CONFLICT",
        `${what} was created by someone else since it was proposed; nothing was done.`,
        409,
      );
    }
    const body = {
      ...args.manifest,
      apiVersion: APPLY_KINDS[kind].apiVersion,
      kind,
      metadata: {
        ...((args.manifest.metadata as Record<string, unknown> | undefined) ?? {}),
        name: args.name,
        namespace: args.namespace,
        ...(live?.metadata?.resourceVersion ? { resourceVersion: live.metadata.resourceVersion } : {}),
      },
    };
    const query = { fieldManager: "deputy" };
    const apply = async (dryRun: boolean): Promise<void> => {
      try {
        await context.kube.patch(path, body, "apply", dryRun ? { ...query, dryRun: "All" } : query);
      } catch (error) {
        if (isKubeApiError(error, 409)) {
          throw new ActionFailed(
            "CONFLICT",
            `${what}: ${dryRun ? "the dry run" : "the apply"} was refused with 409 Conflict (${error.message}); nothing was done.`,
            409,
          );
        }
        if (isKubeApiError(error) && dryRun) {
          throw new ActionFailed(
            "INPUT_INVALID",
            `${what}: the server-side dry run was refused (${error.status}: ${error.message}); nothing was done.`,
            error.status,
          );
        }
        throw error;
      }
    };
    await apply(true);
    await apply(false);
    return {
      message: `${what} ${live ? "updated" : "created"} (server-side apply, dry run first).`,
      kubeStatus: live ? 200 : 201,
    };
  },
});
