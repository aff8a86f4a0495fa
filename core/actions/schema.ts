import { z } from "zod";
import { conversationSchema, identitySchema } from "../identity/identity.ts";
import { effectSchema } from "./effect.ts";

/**
 * A proposed cluster write, stored server-side until a human decides. The
 * card is rendered from this stored document (never from a tool result), the
 * button carries its id and digest, and the executor runs exactly its typed
 * arguments. The document is authenticated (see store.ts), so whoever can
 * write to Redis cannot swap what runs.
 */
export const ACTION_STATES = [
  "pending",
  "approved",
  "executing",
  "succeeded",
  "failed",
  "rejected",
  "expired",
  /** The executor running it stopped mid-way: some steps may be done; never run again. */
  "interrupted",
] as const;
export type ActionState = (typeof ACTION_STATES)[number];

/** 24 random bytes as base64url after `act_`: the one place the id's shape is stated. */
export const ACTION_ID_PATTERN = /^act_[A-Za-z0-9_-]{20,128}$/;

export const riskFlagSchema = z.object({
  /** Stable rule id, e.g. "statefulset-pod", "secret-reference", "service-account". */
  rule: z.string(),
  message: z.string(),
});
export type RiskFlag = z.infer<typeof riskFlagSchema>;

export const riskSchema = z.object({ level: z.enum(["normal", "high"]), flags: z.array(riskFlagSchema) });
export type Risk = z.infer<typeof riskSchema>;

export const targetSchema = z.object({
  kind: z.string(),
  namespace: z.string().optional(),
  name: z.string(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  /** Spec generation when proposed: a spec change since then is a conflict. */
  generation: z.number().int().optional(),
});
export type ActionTarget = z.infer<typeof targetSchema>;

export const outcomeSchema = z.object({
  message: z.string(),
  kubeStatus: z.number().optional(),
  leaseId: z.string().optional(),
  durationMs: z.number().optional(),
  finishedAt: z.string(),
});
export type ActionOutcome = z.infer<typeof outcomeSchema>;

/** One step of a run, recorded before and after it touches the cluster. */
export const stepSchema = z.object({
  step: z.string(),
  status: z.enum(["started", "done", "failed"]),
  at: z.string(),
  detail: z.string().optional(),
});
export type ActionStep = z.infer<typeof stepSchema>;

/** The immutable proposal: everything the MAC covers. */
export const proposalSchema = z.object({
  id: z.string().regex(ACTION_ID_PATTERN),
  cluster: z.string(),
  tool: z.string(),
  /** Typed, normalised arguments (validated by the action type's schema): exactly what will execute. */
  arguments: z.record(z.string(), z.unknown()),
  /** What the proposer read to build the approval view (the live object, the pods affected). */
  evidence: z.record(z.string(), z.unknown()),
  target: targetSchema,
  /**
   * The API server's dry-run answer to the exact request, beside the live
   * object: what the approver sees and what the run is bound to (effect.ts).
   * Every action type that declares its request has one.
   */
  effect: effectSchema.optional(),
  risk: riskSchema,
  reason: z.string().optional(),
  requester: identitySchema,
  conversation: conversationSchema.optional(),
  prompt: z.string().optional(),
  createdAt: z.string(),
  expiresAt: z.string(),
  /** sha256 over what decides what runs and who may decide it (digest.ts); the button carries it. */
  digest: z.string().regex(/^[0-9a-f]{64}$/),
});
export type Proposal = z.infer<typeof proposalSchema>;

export const pendingActionSchema = proposalSchema.extend({
  state: z.enum(ACTION_STATES),
  decidedBy: identitySchema.optional(),
  decidedAt: z.string().optional(),
  /** Filled in after execution. Lease id only, never a token. */
  outcome: outcomeSchema.optional(),
});
export type PendingAction = z.infer<typeof pendingActionSchema>;

/** What a write tool returns in `structuredContent.pendingAction`: a pointer to the stored action. */
export const pendingActionRefSchema = z.object({
  id: z.string().regex(ACTION_ID_PATTERN),
  tool: z.string(),
  digest: z.string(),
  expiresAt: z.string(),
});
export type PendingActionRef = z.infer<typeof pendingActionRefSchema>;

export type Decision = "approve" | "reject";

/** Where an action stands with the approval policy: shown on the card after every click. */
export const approvalProgressSchema = z.object({
  /** The policy rule that applies. */
  rule: z.string(),
  policyHash: z.string(),
  /** Distinct approvers needed. */
  required: z.number().int().min(1),
  /** Who may approve, as Slack mentions (<@U…>, <!subteam^S…>). */
  mayApprove: z.array(z.string()),
  /** Who has approved this version so far (the requester never counts). */
  approvals: z.array(identitySchema),
  /** The group that may approve alone with a typed reason, as a mention. */
  breakGlass: z.string().optional(),
  /** This approval was a break-glass one. */
  brokeGlass: z.boolean().optional(),
});
export type ApprovalProgress = z.infer<typeof approvalProgressSchema>;

export type DecisionResult =
  | { status: "refused"; rule: string; message: string; action: PendingAction | undefined }
  | { status: "not_pending"; message: string; action: PendingAction }
  /** Approved by fewer people than the policy requires: nothing runs yet. */
  | { status: "awaiting"; message: string; action: PendingAction; approval: ApprovalProgress }
  | { status: "rejected"; message: string; action: PendingAction; approval?: ApprovalProgress }
  | { status: "succeeded" | "failed"; message: string; action: PendingAction; approval?: ApprovalProgress };
