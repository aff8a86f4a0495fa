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
 * 1. The same request is sent as a server-side dry run with the run's own
 *    credential. Its answer, without server bookkeeping, must have the
 *    approved digest: if another manager changed a field, a webhook now
 *    mutates differently or the live object moved, the result differs and
 *    nothing is written.
 * 2. The write is sent with the dry run's resourceVersion as precondition,
 *    so nothing can change in between. If something did (a controller
 *    updating status is enough), both steps are repeated: a change that does
 *    not alter the result passes on the next round, any other is refused at
 *    step 1.
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
  for (let round = 1; round <= ROUNDS; round++) {
    let dryRun: WriteAnswer;
    try {
      dryRun = await context.kube.send(request, { dryRun: true });
    } catch (error) {
      if (isKubeApiError(error, 404))
        throw new ActionFailed("NOT_FOUND", `${what} no longer exists; nothing was done.`, 404);
      if (isKubeApiError(error)) {
        throw new ActionFailed(
          error.status === 409 ? "CONFLICT" : "POLICY_DENIED",
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
    if (resultDigest(dryRun.object) !== effect.digest) {
      const differs = diffObjects(effect.result, normaliseObject(dryRun.object)).map((c) => c.path);
      const shown = differs.slice(0, 5).join(", ");
      throw new ActionFailed(
        "CONFLICT",
        `${what}: the result would differ from what was approved (${shown}${differs.length > 5 ? `, and ${differs.length - 5} more` : ""}); nothing was done. Propose the change again to approve the current result.`,
        409,
      );
    }
    try {
      return await context.kube.send(withResourceVersion(request, meta.resourceVersion));
    } catch (error) {
      // The object moved between the dry run and the write: look again.
      if (!isPreconditionFailure(request, error)) throw error;
    }
  }
  throw new ActionFailed(
    "CONFLICT",
    `${what} kept changing while the action ran (${ROUNDS} tries); nothing was done.`,
    409,
  );
}

function isPreconditionFailure(request: WriteRequest, error: unknown): boolean {
  if (isKubeApiError(error, 409)) return true;
  // A JSON patch states its precondition as a test operation, which fails with 422.
  return request.patchType === "json" && isKubeApiError(error, 422) && /test/i.test(error.message);
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
