import { z } from "zod";
import { isKubeApiError } from "../../core/kube/errors.ts";
import { APPLY_KINDS, applyObjectPath, isApplyKind } from "../action-types.ts";
import { ActionFailed, assertUnchanged, type ObjectMeta, type Runner } from "./types.ts";

/**
 * apply_manifest: server-side apply of one object of an allowed kind, first as
 * a server-side dry run (admission, validation and field conflicts are found
 * before anything changes), then for real, with the live resourceVersion as
 * precondition. Never `force`: a field owned by another manager is a 409.
 */

export const applyArgs = z
  .object({
    namespace: z.string().min(1).max(63),
    kind: z.string().refine(isApplyKind, "kind is not one Deputy may apply"),
    name: z.string().min(1).max(253),
    manifest: z.record(z.string(), z.unknown()),
  })
  .strict();
export type ApplyArgs = z.infer<typeof applyArgs>;

export const applyManifest: Runner = async (context) => {
  const args = applyArgs.parse(context.action.arguments);
  if (!isApplyKind(args.kind))
    throw new ActionFailed("POLICY_DENIED", `apply_manifest cannot apply ${args.kind}`);
  const kind = args.kind;
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
};
