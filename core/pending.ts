import { z } from "zod";
import { conversationSchema, identitySchema } from "./identity.ts";

/**
 * A proposed cluster write, stored server-side until a human decides. The
 * Slack button carries only `id`; everything the executor runs comes from
 * here, so what the card showed is exactly what runs.
 */
export const ACTION_STATES = [
  "pending",
  "approved",
  "executing",
  "succeeded",
  "failed",
  "rejected",
  "expired",
] as const;
export type ActionState = (typeof ACTION_STATES)[number];

export const riskFlagSchema = z.object({
  /** Stable rule id, e.g. "statefulset-pod", "protected-namespace", "production-label". */
  rule: z.string(),
  message: z.string(),
});
export type RiskFlag = z.infer<typeof riskFlagSchema>;

export const pendingActionSchema = z.object({
  id: z.string().regex(/^act_[A-Za-z0-9_-]{20,}$/),
  cluster: z.string(),
  tool: z.string(),
  /** Normalised arguments, exactly what will execute. */
  arguments: z.record(z.string(), z.unknown()),
  /** sha256 of the canonical JSON of tool + arguments + target. */
  digest: z.string(),
  target: z.object({
    kind: z.string(),
    namespace: z.string().optional(),
    name: z.string(),
    uid: z.string().optional(),
    resourceVersion: z.string().optional(),
    /** Spec generation when proposed: a spec change since then is a conflict. */
    generation: z.number().int().optional(),
  }),
  summary: z.string(),
  /** Human-readable lines: what changes, which pods are affected. */
  preview: z.array(z.string()),
  risk: z.object({ level: z.enum(["normal", "high"]), flags: z.array(riskFlagSchema) }),
  reason: z.string().optional(),
  requester: identitySchema,
  conversation: conversationSchema.optional(),
  prompt: z.string().optional(),
  createdAt: z.string(),
  expiresAt: z.string(),
  state: z.enum(ACTION_STATES),
  decidedBy: identitySchema.optional(),
  decidedAt: z.string().optional(),
  /** Filled in after execution. Lease id only, never a token. */
  outcome: z
    .object({
      message: z.string(),
      kubeStatus: z.number().optional(),
      leaseId: z.string().optional(),
      durationMs: z.number().optional(),
      finishedAt: z.string(),
    })
    .optional(),
});
export type PendingAction = z.infer<typeof pendingActionSchema>;

/** What a write tool returns in `structuredContent.pendingAction`. */
export type PendingActionSummary = Pick<
  PendingAction,
  "id" | "tool" | "summary" | "preview" | "risk" | "target" | "requester" | "expiresAt" | "reason"
>;

export type Decision = "approve" | "reject";

export type DecisionResult =
  | { status: "refused"; rule: string; message: string; action: PendingAction | undefined }
  | { status: "not_pending"; message: string; action: PendingAction }
  | { status: "rejected"; message: string; action: PendingAction }
  | { status: "succeeded" | "failed"; message: string; action: PendingAction };
