import { isKubeApiError } from "../kube/errors.ts";
import {
  ActionFailed,
  describeTarget,
  type ObjectMeta,
  type RunContext,
  type WriteAnswer,
  type WriteRequest,
} from "./action-type.ts";
import { diffObjects, normaliseObject, resultDigest } from "./effect.ts";

/**
 * The write of an approved action, bound to the result the approver saw.
 *
 * 1. The object is read with the run's own credential: without server
 *    bookkeeping it must be the live object the approver saw the diff
 *    against (a scale from 3 to 5 must not become 10 to 5), or nothing is
 *    written; a create must still find nothing there.
 * 2. The same request is sent as a server-side dry run, on that version: its
 *    answer must have the approved digest (a webhook that now mutates
 *    differently, another manager's field) or nothing is written.
 * 3. The write is sent with that resourceVersion as precondition, so nothing
 *    can change in between. If something did (a controller updating status
 *    is enough), the round is repeated: a change that alters neither the
 *    live object's spec nor the result passes on the next round, any other
 *    is refused. An answer lost after the write was sent is settled by
 *    reading the object back: the approved result there means done.
 */
const ROUNDS = 4;

export async function boundWrite(
  context: Pick<RunContext<unknown>, "kube" | "action" | "effect">,
  request: WriteRequest,
): Promise<WriteAnswer> {
  const what = describeTarget(request.object);
  const effect = context.effect;
  if (!effect) {
    throw new ActionFailed(
      "INPUT_INVALID",
      `${what}: this action was stored without the API server's dry-run answer, so what it would do was never shown; nothing was done. Propose it again.`,
    );
  }
  const created = effect.live === undefined;
  for (let round = 1; round <= ROUNDS; round++) {
    // 1. The live object is still the one the approver saw the diff against.
    const live = await readLive(context, request, what);
    if (created && live) {
      throw new ActionFailed(
        "CONFLICT",
        `${what} was created by someone else since it was proposed; nothing was done. Propose the change again to see its effect on that object.`,
        409,
      );
    }
    if (live && effect.live) {
      const moved = diffObjects(effect.live, normaliseObject(live)).map((c) => c.path);
      if (moved.length > 0) {
        throw new ActionFailed(
          "CONFLICT",
          `${what} changed since it was approved (${listed(moved)}), so the change shown is no longer the change that would be made; nothing was done. Propose it again to approve the current one.`,
          409,
        );
      }
    }
    const version = live?.metadata?.resourceVersion;
    const guarded = withResourceVersion(request, version);
    // 2. The same request, as a dry run with this credential, answers the approved result.
    let dryRun: WriteAnswer;
    try {
      dryRun = await context.kube.send(guarded, { dryRun: true });
    } catch (error) {
      if (isPreconditionFailure(request, error)) continue;
      if (isKubeApiError(error, 404))
        throw new ActionFailed("NOT_FOUND", `${what} no longer exists; nothing was done.`, 404);
      if (isKubeApiError(error)) {
        throw new ActionFailed(
          "POLICY_DENIED",
          `${what}: the API server now refuses the approved change (dry run: ${error.status}${error.reason ? ` ${error.reason}` : ""}: ${error.message}); nothing was done.`,
          error.status,
        );
      }
      throw error;
    }
    const meta: ObjectMeta = (dryRun.object as { metadata?: ObjectMeta } | undefined)?.metadata ?? {};
    const uid = context.action.target.uid;
    if (uid && meta.uid !== uid) {
      throw new ActionFailed(
        "CONFLICT",
        `${what} was deleted and re-created since it was proposed (uid changed); nothing was done. Propose the change again.`,
        409,
      );
    }
    if (resultDigest(dryRun.object, { created }) !== effect.digest) {
      const differs = diffObjects(effect.result, normaliseObject(dryRun.object)).map((c) => c.path);
      throw new ActionFailed(
        "CONFLICT",
        `${what}: the result would differ from what was approved (${listed(differs)}); nothing was done. Propose the change again to approve the current result.`,
        409,
      );
    }
    // 3. The write, on exactly the version both checks saw.
    try {
      return await context.kube.send(guarded);
    } catch (error) {
      if (isPreconditionFailure(request, error)) continue;
      // An answer lost after the write was sent: what is there now says whether it was applied.
      const now = await readLive(context, request, what).catch(() => undefined);
      if (
        now &&
        now.metadata?.resourceVersion !== version &&
        resultDigest(now, { created }) === effect.digest
      ) {
        return { object: now, warnings: [] };
      }
      throw error;
    }
  }
  throw new ActionFailed(
    "CONFLICT",
    `${what} kept changing while the action ran (${ROUNDS} tries); nothing was done.`,
    409,
  );
}

/** The object the request writes, read with the run's credential; undefined when it does not exist. */
async function readLive(
  context: Pick<RunContext<unknown>, "kube">,
  request: WriteRequest,
  what: string,
): Promise<({ metadata?: ObjectMeta } & Record<string, unknown>) | undefined> {
  try {
    return await context.kube.get(request.path);
  } catch (error) {
    if (isKubeApiError(error, 404)) return undefined;
    if (isKubeApiError(error)) {
      throw new ActionFailed(
        "POLICY_DENIED",
        `${what} could not be read before the write (${error.status}: ${error.message}); nothing was done.`,
        error.status,
      );
    }
    throw error;
  }
}

function listed(paths: readonly string[]): string {
  return `${paths.slice(0, 5).join(", ")}${paths.length > 5 ? `, and ${paths.length - 5} more` : ""}`;
}

/** The version a request was sent on is no longer the object's (409, or a JSON patch's failed test). */
export function isPreconditionFailure(request: WriteRequest, error: unknown): boolean {
  if (isKubeApiError(error, 409)) return true;
  // A JSON patch states its precondition as a test operation, which fails with a 422 that names
  // nothing ("the server rejected our request due to an error in our request"): taken as the version
  // having moved, so the caller reads again; a patch that is invalid for another reason is refused
  // the same way once the rounds are used up.
  return (
    request.patchType === "json" &&
    isKubeApiError(error, 422) &&
    /\btest|rejected our request due to an error in our request/i.test(error.message)
  );
}

/** The request with the object's resourceVersion as precondition (for an update). */
export function withResourceVersion(
  request: WriteRequest,
  resourceVersion: string | undefined,
): WriteRequest {
  if (!resourceVersion) return request;
  if (request.patchType === "json") {
    const operations = Array.isArray(request.body) ? request.body : [];
    return {
      ...request,
      body: [{ op: "test", path: "/metadata/resourceVersion", value: resourceVersion }, ...operations],
    };
  }
  const body = (request.body ?? {}) as { metadata?: Record<string, unknown> };
  return { ...request, body: { ...body, metadata: { ...body.metadata, resourceVersion } } };
}
