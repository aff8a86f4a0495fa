import { z } from "zod";
import { signingFetch } from "../core/identity/caller-auth.ts";
import { DeputyError, describeError } from "../core/errors.ts";
import type { Identity } from "../core/identity/identity.ts";
import { injectTraceContext } from "../core/observability/tracing.ts";
import { approvalProgressSchema, pendingActionSchema, type DecisionResult } from "../core/actions/schema.ts";
import type { ApprovalDecider, DecisionRequest } from "./approval-executor.ts";
import { DECISIONS_PATH } from "./http.ts";

/**
 * The bot's side of a remote executor: the same `decide` as the in-process
 * executor, over POST /v1/decisions. The answer is validated; a transport
 * failure is an error (the decision may or may not have happened — the bot
 * says so and shows the action's state), never a silent success. Every
 * request is signed with the executorCaller key (core/identity/caller-auth.ts); when
 * an approver group is configured, the bot asks Slack whether the approver
 * is a member and vouches for the answer in the signed claims, so an
 * executor without a Slack client can still honour the group.
 */
const decisionResultSchema = z.discriminatedUnion("status", [
  z.object({
    status: z.literal("refused"),
    rule: z.string(),
    message: z.string(),
    action: pendingActionSchema.optional(),
  }),
  z.object({ status: z.literal("not_pending"), message: z.string(), action: pendingActionSchema }),
  z.object({
    status: z.literal("awaiting"),
    message: z.string(),
    action: pendingActionSchema,
    approval: approvalProgressSchema,
  }),
  z.object({
    status: z.literal("rejected"),
    message: z.string(),
    action: pendingActionSchema,
    approval: approvalProgressSchema.optional(),
  }),
  z.object({
    status: z.enum(["succeeded", "failed"]),
    message: z.string(),
    action: pendingActionSchema,
    approval: approvalProgressSchema.optional(),
  }),
]);

export function createExecutorClient(options: {
  url: string;
  /** The executorCaller key (core/identity/keys.ts). */
  key: Buffer;
  /** The configured approver group and how to check membership with Slack. */
  approverGroup?: { id: string; isMember: (identity: Identity) => Promise<boolean> } | undefined;
  /**
   * The user groups the approval policy names: the bot asks Slack, at the
   * click, which of them the approver and the action's requester are in, and
   * vouches for the answer (the executor judges the policy on it).
   */
  policyGroups?:
    | {
        ids: readonly string[];
        isMember: (identity: Identity, group: string) => Promise<boolean>;
        /** The requester of a stored action (read and verified by the bot). */
        requesterOf: (actionId: string) => Promise<Identity | undefined>;
      }
    | undefined;
  timeoutMs?: number;
  fetch?: typeof fetch;
}): ApprovalDecider {
  const endpoint = new URL(DECISIONS_PATH, options.url).toString();
  const timeoutMs = options.timeoutMs ?? 120_000;
  const group = options.approverGroup;
  return {
    async decide(request: DecisionRequest): Promise<DecisionResult> {
      let member = false;
      if (group) {
        // Fail closed: a membership Slack cannot confirm is not vouched for.
        member = await group.isMember(request.approver).catch(() => false);
      }
      const groupMembers = options.policyGroups
        ? await vouchForGroups(options.policyGroups, request)
        : undefined;
      const claims = {
        ...(member && group ? { approverGroups: [group.id] } : {}),
        ...(groupMembers ? { groupMembers } : {}),
      };
      const doFetch = signingFetch({
        key: options.key,
        purpose: "executor",
        ...(Object.keys(claims).length > 0 ? { claimsOf: () => claims } : {}),
        ...(options.fetch ? { fetch: options.fetch } : {}),
      });
      let response: Response;
      try {
        response = await doFetch(endpoint, {
          method: "POST",
          headers: injectTraceContext({ "content-type": "application/json" }),
          body: JSON.stringify(request),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        // Said plainly: the bot reads it back and tells whether the action was decided meanwhile.
        const timedOut = (error as { name?: string } | null)?.name === "TimeoutError";
        throw new DeputyError(
          "UPSTREAM_FAILED",
          timedOut
            ? `the executor did not answer within ${Math.round(timeoutMs / 1000)} s`
            : `the connection to the executor at ${endpoint} failed (${describeError(error)})`,
          { cause: error, details: { timedOut } },
        );
      }
      const text = await response.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      if (response.status !== 200 && response.status !== 400) {
        throw new DeputyError(
          "UPSTREAM_FAILED",
          `The executor answered ${response.status}: ${text.slice(0, 200)}`,
        );
      }
      const parsed = decisionResultSchema.safeParse(json);
      if (!parsed.success) {
        throw new DeputyError("UPSTREAM_FAILED", "The executor answered a malformed decision result");
      }
      return parsed.data as DecisionResult;
    },
  };
}

/** Which of the policy's groups the approver and the requester are in now; unknown is not vouched for. */
async function vouchForGroups(
  groups: NonNullable<Parameters<typeof createExecutorClient>[0]["policyGroups"]>,
  request: DecisionRequest,
): Promise<Record<string, string[]> | undefined> {
  const requester = await groups.requesterOf(request.actionId).catch(() => undefined);
  const people = [request.approver, ...(requester ? [requester] : [])].filter(
    (person) => person.kind === "slack" && /^[UW][A-Z0-9]{1,30}$/.test(person.id),
  );
  const members: Record<string, string[]> = {};
  for (const person of people) {
    if (members[person.id]) continue;
    const found = await Promise.all(
      groups.ids.map(async (id) => ((await groups.isMember(person, id).catch(() => false)) ? id : undefined)),
    );
    members[person.id] = found.filter((id): id is string => id !== undefined);
  }
  return Object.keys(members).length > 0 ? members : undefined;
}
