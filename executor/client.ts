import { z } from "zod";
import { DeputyError, describeError } from "../core/errors.ts";
import { pendingActionSchema, type DecisionResult } from "../core/actions/schema.ts";
import type { ApprovalDecider, DecisionRequest } from "./approval-executor.ts";
import { DECISIONS_PATH } from "./http.ts";

/**
 * The bot's side of a remote executor: the same `decide` as the in-process
 * executor, over POST /v1/decisions. The answer is validated; a transport
 * failure is an error (the decision may or may not have happened — the bot
 * says so and shows the action's state), never a silent success.
 */
const decisionResultSchema = z.discriminatedUnion("status", [
  z.object({
    status: z.literal("refused"),
    rule: z.string(),
    message: z.string(),
    action: pendingActionSchema.optional(),
  }),
  z.object({ status: z.literal("not_pending"), message: z.string(), action: pendingActionSchema }),
  z.object({ status: z.literal("rejected"), message: z.string(), action: pendingActionSchema }),
  z.object({ status: z.enum(["succeeded", "failed"]), message: z.string(), action: pendingActionSchema }),
]);

export function createExecutorClient(options: {
  url: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}): ApprovalDecider {
  const endpoint = new URL(DECISIONS_PATH, options.url).toString();
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 120_000;
  return {
    async decide(request: DecisionRequest): Promise<DecisionResult> {
      let response: Response;
      try {
        response = await doFetch(endpoint, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(request),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        throw new DeputyError(
          "UPSTREAM_FAILED",
          `The executor at ${endpoint} did not answer: ${describeError(error)}`,
          {
            cause: error,
          },
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
