import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { z } from "zod";
import { DeputyError } from "../errors.ts";
import { identityKey, identitySchema, type Identity } from "../identity/identity.ts";
import type { Config } from "../config/config.ts";
import {
  confirmReplicated,
  durabilityOf,
  ReplicationUnconfirmed,
  writeReplicated,
  type RedisDurability,
} from "../state/redis.ts";
import { actionDigest, createActionSigner, type ActionSigner } from "./digest.ts";
import {
  ACTION_ID_PATTERN,
  ACTION_STATES,
  outcomeSchema,
  pendingActionSchema,
  proposalSchema,
  stepSchema,
  type ActionStep,
  type ActionOutcome,
  type ActionState,
  type PendingAction,
  type Proposal,
} from "./schema.ts";

/**
 * Pending actions in Redis. Every state change is one Lua script, so two
 * approvers clicking at once, or an approval racing a rejection, see exactly one
 * winner: pending → approved → executing → succeeded | failed, and
 * pending → rejected | expired. Nothing moves back to pending, and
 * approved → executing happens at most once per action (the `executions`
 * counter is checked in the same script that increments it).
 *
 * One hash per action: `doc` (the immutable proposal as JSON) and `mac` (its
 * HMAC under a key Redis never sees), `state`, and the decision/outcome
 * fields. Every read verifies the MAC: a document someone rewrote in Redis is
 * an ActionTampered error, never an action. Non-terminal states are indexed in
 * sorted sets so expiry sweeps and crash reconciliation never scan the keyspace.
 *
 * Redis is not trusted for what happened either: the decision, the start of
 * the run and the outcome are each written with a MAC under the same key
 * (`decisionMac`, `beganMac`, `outcomeMac`), and a read derives the state from
 * those records and the signed expiry. A `state` field the records do not
 * back (a forged "rejected", "succeeded" or decider) is ActionTampered; one
 * that moved backwards (rejected → pending) is ActionStateRegressed. Expiry is
 * the signed `expiresAt`, never the unsigned `expiresAtMs` index field.
 */

export { ACTION_ID_PATTERN };
const INDEXED_STATES = ["pending", "approved", "executing"] as const;
const TERMINAL_STATES: readonly ActionState[] = ["succeeded", "failed", "rejected", "expired", "interrupted"];

export type ActionDraft = Omit<Proposal, "id" | "digest" | "createdAt" | "expiresAt">;
export type { ActionOutcome };

export type TransitionResult =
  | { ok: true; action: PendingAction }
  | { ok: false; reason: "missing" }
  | { ok: false; reason: "expired"; action: PendingAction }
  | { ok: false; reason: "wrong_state"; action: PendingAction }
  | { ok: false; reason: "already_ran"; action: PendingAction };

/** A stored action whose document no longer matches its MAC (or cannot be read as one). */
export class ActionTampered extends DeputyError {
  readonly actionId: string;
  constructor(actionId: string, why: string, message?: string) {
    super(
      "TAMPERED",
      message ?? `Stored action ${actionId} failed its integrity check (${why}); it will not be used.`,
      { details: { actionId } },
    );
    this.name = "ActionTampered";
    this.actionId = actionId;
  }
}

/**
 * A stored action whose state field went back to an earlier state than its
 * signed records prove (a rejection flipped back to pending): never decided
 * or run again, and reported as an anomaly.
 */
export class ActionStateRegressed extends ActionTampered {
  readonly stored: ActionState;
  readonly proven: ActionState;
  constructor(actionId: string, stored: ActionState, proven: ActionState) {
    super(
      actionId,
      `its state went back from ${proven} to ${stored}`,
      `Stored action ${actionId} moved backwards in Redis: its signed records say ${proven}, its state field says ${stored}; it will not be used.`,
    );
    this.name = "ActionStateRegressed";
    this.stored = stored;
    this.proven = proven;
  }
}

/**
 * A state transition Redis applied on its primary that the configured
 * replicas did not confirm (DEPUTY_REDIS_WAIT_REPLICAS): a failover now could
 * lose it. `action` is the action as the primary holds it; whoever moved it
 * must not go on as if it were durable (an unconfirmed `executing` never
 * reaches the API server).
 */
export class ActionUnconfirmed extends DeputyError {
  readonly action: PendingAction;
  constructor(action: PendingAction, cause: ReplicationUnconfirmed) {
    super("UPSTREAM_FAILED", cause.message, {
      cause,
      details: { ...cause.details, actionId: action.id, state: action.state },
    });
    this.name = "ActionUnconfirmed";
    this.action = action;
  }
}

/**
 * A credential lease whose revocation failed (OpenBao sealed or unreachable):
 * kept until a revocation succeeds, so that any executor replica, or this one
 * after a restart, keeps trying. Only ids are stored, never a token.
 */
export const unrevokedLeaseSchema = z.object({
  leaseId: z.string(),
  actionId: z.string(),
  cluster: z.string(),
  serviceAccount: z.string(),
  tokenExpiresAt: z.string().optional(),
  /** When its action ended. */
  since: z.string(),
});
export type UnrevokedLeaseRecord = z.infer<typeof unrevokedLeaseSchema>;

/**
 * One person's approval of one version of an action (N-of-M approvals): it
 * counts only for the digest it names, once per person, and only with its MAC.
 */
export const approvalRecordSchema = z.object({
  approver: identitySchema,
  digest: z.string(),
  at: z.string(),
  /** The typed reason of a break-glass approval. */
  breakGlass: z.string().optional(),
});
export type ApprovalRecord = z.infer<typeof approvalRecordSchema>;

export interface ActionStore {
  /** Store a proposal as `pending` with a fresh unguessable id, its digest and its MAC. */
  create(draft: ActionDraft, options?: { ttlSeconds?: number }): Promise<PendingAction>;
  /** The verified action, undefined when unknown; throws ActionTampered when its MAC fails. */
  get(id: string): Promise<PendingAction | undefined>;
  /**
   * The cluster a stored action names, read WITHOUT verifying its MAC: only
   * to route a decision to that cluster's executor, which verifies everything
   * (a tampered action is refused and reported there). Undefined when unknown.
   */
  clusterOf(id: string): Promise<string | undefined>;
  /**
   * Record one approval of the action as it is stored now (its digest) and
   * answer every approval of that digest, the new one included: one per
   * person, each with a valid MAC. Approvals of another digest never count.
   */
  recordApproval(action: PendingAction, approval: ApprovalRecord): Promise<ApprovalRecord[]>;
  /** The approvals recorded for this version of the action (see recordApproval). */
  approvals(action: PendingAction): Promise<ApprovalRecord[]>;
  /** pending → approved | rejected, refusing an expired action (which becomes `expired`). */
  decide(id: string, decision: "approved" | "rejected", by: Identity): Promise<TransitionResult>;
  /** approved → executing, once (a second call answers `already_ran`), owned by one executor. */
  beginExecution(id: string, owner: string): Promise<TransitionResult>;
  /** The owner is alive: refresh the heartbeat of its executing actions (others' are left alone). */
  heartbeat(ids: readonly string[], owner: string): Promise<void>;
  /**
   * Record a step before and after it touches the cluster. The first step
   * started is when the action reached the cluster: `executions` counts that.
   */
  recordStep(id: string, step: ActionStep): Promise<void>;
  steps(id: string): Promise<ActionStep[]>;
  /** Executing actions whose owner has not sent a heartbeat for `staleMs` (a stopped executor). */
  listOrphaned(staleMs: number): Promise<(PendingAction & { owner: string | undefined })[]>;
  recordLease(id: string, leaseId: string): Promise<void>;
  /** executing → succeeded | failed | interrupted (or approved → failed when execution never started). */
  finish(
    id: string,
    state: "succeeded" | "failed" | "interrupted",
    outcome: ActionOutcome,
  ): Promise<TransitionResult>;
  /** Mark overdue pending actions expired; returns their ids. */
  expireDue(): Promise<string[]>;
  /** Actions stuck in approved/executing since before `olderThanMs` ago (a crashed executor). */
  listStale(olderThanMs: number): Promise<PendingAction[]>;
  /** The recorded lease id of an action, if execution got that far. */
  leaseOf(id: string): Promise<string | undefined>;
  /** Keep a lease whose revocation failed until `forgetUnrevokedLease` (it is retried). */
  rememberUnrevokedLease(lease: UnrevokedLeaseRecord): Promise<void>;
  unrevokedLeases(): Promise<UnrevokedLeaseRecord[]>;
  forgetUnrevokedLease(leaseId: string): Promise<void>;
  /** How many times the action reached the cluster (at most 1, by construction). */
  executions(id: string): Promise<number>;
  list(state: (typeof INDEXED_STATES)[number], limit?: number): Promise<PendingAction[]>;
  /** How many actions are live in each indexed state (the pending-actions gauge). */
  countByState(): Promise<Partial<Record<(typeof INDEXED_STATES)[number], number>>>;
}

export interface ActionStoreOptions {
  /** Key prefix, e.g. "deputy:". */
  prefix: string;
  /** Default approval window. */
  ttlSeconds: number;
  /** Signs and verifies stored proposals (key from OpenBao KV, or generated in local mode). */
  signer: ActionSigner;
  /** How long finished actions are kept for the thread and the audit story. */
  retentionSeconds?: number;
  /**
   * Replicas that must confirm a new action and each decision, start and outcome
   * (default: what the client was made with, see core/state/redis.ts; none: no WAIT).
   */
  durability?: RedisDurability;
  now?: () => number;
}

export function newActionId(): string {
  // 24 random bytes: 192 bits, so ids cannot be guessed or enumerated.
  return `act_${randomBytes(24).toString("base64url")}`;
}

// Lua: the only place state changes. ARGV: allowed from-states (comma list),
// to-state, now (ms), check expiry ("1"/"0"), terminal ("1"/"0"), retention
// seconds, the signed expiry (ms, from the verified document), then
// field/value pairs to set. KEYS: the action hash and the index sets of
// INDEXED_STATES in order.
const TRANSITION_SCRIPT = `
local indexed = { ${INDEXED_STATES.map((s) => `["${s}"] = ${INDEXED_STATES.indexOf(s) + 2}`).join(", ")} }
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'missing'} end
if ARGV[2] == 'pending' then return {'wrong_state', state} end
local allowed = false
for s in string.gmatch(ARGV[1], '[^,]+') do
  if s == state then allowed = true end
end
if not allowed then return {'wrong_state', state} end
if ARGV[2] == 'executing' and redis.call('HGET', KEYS[1], 'began') then
  return {'already_ran', state}
end
local now = tonumber(ARGV[3])
local id = redis.call('HGET', KEYS[1], 'id')
local function move(to)
  redis.call('HSET', KEYS[1], 'state', to, 'updatedAtMs', ARGV[3])
  if indexed[state] then redis.call('ZREM', KEYS[indexed[state]], id) end
  if indexed[to] then redis.call('ZADD', KEYS[indexed[to]], now, id) end
end
if ARGV[4] == '1' and state == 'pending' then
  -- The signed expiry decides; the unsigned field is only an index hint.
  local expires = tonumber(ARGV[7])
  if not expires then return {'wrong_state', state} end
  if expires <= now then
    move('expired')
    redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
    return {'expired'}
  end
  if ARGV[2] == 'expired' then return {'not_due', state} end
end
move(ARGV[2])
for i = 8, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
if ARGV[2] == 'executing' then redis.call('HSET', KEYS[1], 'began', '1') end
if ARGV[5] == '1' then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6])) end
return {'ok', state}
`;

// KEYS[1]: the action hash. ARGV: owner, now. Only the owner's heartbeat counts.
const HEARTBEAT_SCRIPT = `
if redis.call('HGET', KEYS[1], 'state') ~= 'executing' then return 0 end
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'heartbeatMs', ARGV[2])
return 1
`;

// KEYS: the action hash, its step list. ARGV: the step as JSON, its status. The first step
// started marks the moment the action reached the cluster; that is what "executions" counts.
const STEP_SCRIPT = `
if not redis.call('HGET', KEYS[1], 'state') then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
if ARGV[2] == 'started' and redis.call('HSETNX', KEYS[1], 'reachedCluster', '1') == 1 then
  redis.call('HINCRBY', KEYS[1], 'executions', 1)
end
return 1
`;

const storedSchema = z.object({
  id: z.string(),
  doc: z.string(),
  mac: z.string(),
  state: z.enum(ACTION_STATES),
  decision: z.string().optional(),
  decidedBy: z.string().optional(),
  decidedAt: z.string().optional(),
  decisionMac: z.string().optional(),
  owner: z.string().optional(),
  executingSinceMs: z.string().optional(),
  beganMac: z.string().optional(),
  finalState: z.string().optional(),
  outcome: z.string().optional(),
  outcomeMac: z.string().optional(),
});
type StoredAction = z.infer<typeof storedSchema>;

/** The signed records about an action, as flat objects of the strings stored. */
function decisionRecord(
  proposal: Pick<Proposal, "id" | "digest">,
  decision: string,
  decidedBy: string,
  decidedAt: string,
): Record<string, string> {
  return { kind: "decision", id: proposal.id, digest: proposal.digest, decision, decidedBy, decidedAt };
}
function beganRecord(
  proposal: Pick<Proposal, "id" | "digest">,
  owner: string,
  since: string,
): Record<string, string> {
  return { kind: "began", id: proposal.id, digest: proposal.digest, owner, since };
}
function outcomeRecord(
  proposal: Pick<Proposal, "id" | "digest">,
  state: string,
  outcome: string,
): Record<string, string> {
  return { kind: "outcome", id: proposal.id, digest: proposal.digest, state, outcome };
}

/** How far along each state is: a stored state behind what the records prove moved backwards. */
const STATE_RANK: Record<ActionState, number> = {
  pending: 0,
  approved: 1,
  rejected: 1,
  expired: 1,
  executing: 2,
  succeeded: 3,
  failed: 3,
  interrupted: 3,
};

/**
 * The state the signed records prove, checked against the stored `state`
 * field: what the records do not back is forged, what is behind them moved
 * backwards. Pending past its signed expiry reads as pending (the decision
 * refuses it; the sweep marks it expired).
 */
function provenState(
  stored: StoredAction,
  proposal: Proposal,
  signer: ActionSigner,
  nowMs: number,
): ActionState {
  const id = proposal.id;
  const forged = (why: string): never => {
    throw new ActionTampered(id, why);
  };
  let decision: "approved" | "rejected" | undefined;
  if (stored.decisionMac !== undefined) {
    const record = decisionRecord(
      proposal,
      stored.decision ?? "",
      stored.decidedBy ?? "",
      stored.decidedAt ?? "",
    );
    if (!signer.verifyRecord(proposal.cluster, record, stored.decisionMac))
      forged("its decision record does not match its MAC");
    if (stored.decision !== "approved" && stored.decision !== "rejected") forged("its decision is malformed");
    decision = stored.decision as "approved" | "rejected";
  } else if (
    stored.decision !== undefined ||
    stored.decidedBy !== undefined ||
    stored.decidedAt !== undefined
  ) {
    forged("it names a decision nobody signed");
  }
  let began = false;
  if (stored.beganMac !== undefined) {
    const record = beganRecord(proposal, stored.owner ?? "", stored.executingSinceMs ?? "");
    if (!signer.verifyRecord(proposal.cluster, record, stored.beganMac))
      forged("its execution record does not match its MAC");
    if (decision !== "approved") forged("it began running without a signed approval");
    began = true;
  }
  let finished: ActionState | undefined;
  if (stored.outcomeMac !== undefined) {
    const record = outcomeRecord(proposal, stored.finalState ?? "", stored.outcome ?? "");
    if (!signer.verifyRecord(proposal.cluster, record, stored.outcomeMac))
      forged("its outcome record does not match its MAC");
    if (!["succeeded", "failed", "interrupted"].includes(stored.finalState ?? ""))
      forged("its outcome is malformed");
    if (decision !== "approved") forged("it has an outcome without a signed approval");
    finished = stored.finalState as ActionState;
  } else if (stored.outcome !== undefined || stored.finalState !== undefined) {
    forged("it names an outcome nobody signed");
  }
  const proven: ActionState =
    finished ??
    (decision === "rejected"
      ? "rejected"
      : decision === "approved"
        ? began
          ? "executing"
          : "approved"
        : "pending");
  const claimed = stored.state;
  if (claimed === proven) return proven;
  if (proven === "pending" && claimed === "expired") {
    if (Date.parse(proposal.expiresAt) <= nowMs) return "expired";
    forged("it is marked expired before its signed expiry");
  }
  if (STATE_RANK[claimed] < STATE_RANK[proven]) throw new ActionStateRegressed(id, claimed, proven);
  return forged(`its state ${claimed} is not backed by its signed records (${proven})`);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function createActionStore(redis: Redis, options: ActionStoreOptions): ActionStore {
  const now = options.now ?? Date.now;
  const retention = options.retentionSeconds ?? 30 * 24 * 3600;
  const key = (id: string): string => `${options.prefix}action:${id}`;
  const stepsKey = (id: string): string => `${options.prefix}action:${id}:steps`;
  const indexKey = (state: string): string => `${options.prefix}actions:${state}`;
  const indexKeys = INDEXED_STATES.map(indexKey);
  const unrevokedKey = `${options.prefix}leases:unrevoked`;
  const durability = options.durability ?? durabilityOf(redis);

  /** One hash per version: an approval of another digest is never read with this one's. */
  const approvalsKey = (id: string, digest: string): string =>
    `${options.prefix}action:${id}:approvals:${digest}`;
  const approvalFields = (id: string, approval: ApprovalRecord): Record<string, string> => ({
    kind: "approval",
    id,
    digest: approval.digest,
    approver: identityKey(approval.approver),
    at: approval.at,
    breakGlass: approval.breakGlass ?? "",
  });

  async function readApprovals(action: PendingAction): Promise<ApprovalRecord[]> {
    const raw = await redis.hgetall(approvalsKey(action.id, action.digest));
    return Object.entries(raw)
      .flatMap(([person, text]) => {
        const stored = z
          .object({ approval: approvalRecordSchema, mac: z.string() })
          .safeParse(parseJson(text));
        if (!stored.success) return [];
        const { approval, mac } = stored.data;
        // A record moved to another person's field, of another version, or unsigned does not count.
        if (identityKey(approval.approver) !== person || approval.digest !== action.digest) return [];
        if (!options.signer.verifyRecord(action.cluster, approvalFields(action.id, approval), mac)) return [];
        return [approval];
      })
      .sort((a, b) => a.at.localeCompare(b.at));
  }

  async function load(id: string): Promise<PendingAction | undefined> {
    if (!ACTION_ID_PATTERN.test(id)) return undefined;
    const raw = await redis.hgetall(key(id));
    if (Object.keys(raw).length === 0) return undefined;
    const stored = storedSchema.safeParse(raw);
    if (!stored.success) throw new ActionTampered(id, "its record is incomplete");
    const proposal = proposalSchema.strict().safeParse(parseJson(stored.data.doc));
    if (!proposal.success) throw new ActionTampered(id, "its document is malformed");
    if (proposal.data.id !== id || stored.data.id !== id) throw new ActionTampered(id, "its id was changed");
    if (!options.signer.verify(proposal.data, stored.data.mac)) {
      throw new ActionTampered(id, "its MAC does not match its document");
    }
    // A verified document with a digest that does not match it was signed wrong: refuse it too.
    if (actionDigest(proposal.data) !== proposal.data.digest) {
      throw new ActionTampered(id, "its digest does not match its document");
    }
    const state = provenState(stored.data, proposal.data, options.signer, now());
    const decidedBy = stored.data.decidedBy
      ? identitySchema.safeParse(parseJson(stored.data.decidedBy))
      : undefined;
    const outcome = stored.data.outcome ? outcomeSchema.safeParse(parseJson(stored.data.outcome)) : undefined;
    return pendingActionSchema.parse({
      ...proposal.data,
      state,
      ...(decidedBy?.success ? { decidedBy: decidedBy.data } : {}),
      ...(stored.data.decidedAt ? { decidedAt: stored.data.decidedAt } : {}),
      ...(outcome?.success ? { outcome: outcome.data } : {}),
    });
  }

  async function transition(
    id: string,
    from: readonly ActionState[],
    to: ActionState,
    fields: (current: PendingAction) => Record<string, string>,
    checkExpiry: boolean,
    /** Wait for the replicas (decisions, starts and outcomes; not the expiry sweep). */
    replicated = false,
  ): Promise<TransitionResult> {
    if (!ACTION_ID_PATTERN.test(id)) return { ok: false, reason: "missing" };
    // The verified action first: its signed expiry and digest go into what is written.
    const current = await load(id);
    if (!current) return { ok: false, reason: "missing" };
    const argv = [
      from.join(","),
      to,
      String(now()),
      checkExpiry ? "1" : "0",
      TERMINAL_STATES.includes(to) ? "1" : "0",
      String(retention),
      String(Date.parse(current.expiresAt)),
      ...Object.entries(fields(current)).flat(),
    ];
    const stream = redis.stream;
    const reply = (await redis.eval(
      TRANSITION_SCRIPT,
      1 + indexKeys.length,
      key(id),
      ...indexKeys,
      ...argv,
    )) as [string, string?];
    let unconfirmed: ReplicationUnconfirmed | undefined;
    if (replicated && reply[0] === "ok") {
      await confirmReplicated(redis, durability, `action ${id} is ${to}`, stream).catch((error: unknown) => {
        if (!(error instanceof ReplicationUnconfirmed)) throw error;
        unconfirmed = error;
      });
    }
    const action = await load(id);
    if (unconfirmed && action) throw new ActionUnconfirmed(action, unconfirmed);
    if (reply[0] === "missing" || !action) return { ok: false, reason: "missing" };
    if (reply[0] === "expired") return { ok: false, reason: "expired", action };
    if (reply[0] === "wrong_state" || reply[0] === "not_due")
      return { ok: false, reason: "wrong_state", action };
    if (reply[0] === "already_ran") return { ok: false, reason: "already_ran", action };
    return { ok: true, action };
  }

  /** Ids in an index whose documents verify; a tampered one is left out (and reported by `get`). */
  async function loadMany(ids: readonly string[]): Promise<PendingAction[]> {
    const actions = await Promise.all(ids.map((id) => load(id).catch(() => undefined)));
    return actions.filter((a): a is PendingAction => a !== undefined);
  }

  return {
    async create(draft, createOptions = {}) {
      const ttlSeconds = createOptions.ttlSeconds ?? options.ttlSeconds;
      if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) {
        throw new DeputyError(
          "INPUT_INVALID",
          `Approval window must be a positive number of seconds, got ${ttlSeconds}`,
        );
      }
      const createdMs = now();
      const expiresMs = createdMs + ttlSeconds * 1000;
      const id = newActionId();
      const unsigned = {
        ...draft,
        id,
        createdAt: new Date(createdMs).toISOString(),
        expiresAt: new Date(expiresMs).toISOString(),
      };
      // Validate before writing so a malformed proposal leaves nothing behind.
      const proposal = proposalSchema.strict().parse({ ...unsigned, digest: actionDigest(unsigned) });
      let created: Awaited<ReturnType<ReturnType<Redis["multi"]>["exec"]>>;
      try {
        created = await writeReplicated(redis, durability, "the pending action", () =>
          redis
            .multi()
            .hset(key(id), {
              id,
              doc: JSON.stringify(proposal),
              mac: options.signer.mac(proposal),
              state: "pending",
              createdAtMs: String(createdMs),
              expiresAtMs: String(expiresMs),
              executions: "0",
            })
            .zadd(indexKey("pending"), expiresMs, id)
            .exec(),
        );
      } catch (error) {
        if (!(error instanceof ReplicationUnconfirmed)) throw error;
        // Nobody is told of it, so nobody may approve it: withdrawn, on the primary at least.
        await redis
          .multi()
          .del(key(id))
          .zrem(indexKey("pending"), id)
          .exec()
          .catch(() => undefined);
        throw new DeputyError(
          "UPSTREAM_FAILED",
          `${error.message}. So the proposal was withdrawn: nothing is pending approval and nothing was changed; propose it again once Redis has its replicas back.`,
          { cause: error, details: error.details },
        );
      }
      if (!created || created.some(([error]) => error !== null)) {
        throw new DeputyError("UPSTREAM_FAILED", "Could not store the pending action in Redis");
      }
      return pendingActionSchema.parse({ ...proposal, state: "pending" });
    },

    get: load,

    async recordApproval(action, approval) {
      const checked = approvalRecordSchema.parse(approval);
      const mac = options.signer.macRecord(action.cluster, approvalFields(action.id, checked));
      const key = approvalsKey(action.id, checked.digest);
      // A person's first approval stands, with its time: a second click adds nothing.
      await redis
        .multi()
        .hsetnx(key, identityKey(checked.approver), JSON.stringify({ approval: checked, mac }))
        .expire(key, retention)
        .exec();
      return readApprovals(action);
    },

    approvals: readApprovals,

    async clusterOf(id) {
      if (!ACTION_ID_PATTERN.test(id)) return undefined;
      const doc = await redis.hget(key(id), "doc");
      if (!doc) return undefined;
      try {
        const cluster = (JSON.parse(doc) as { cluster?: unknown }).cluster;
        return typeof cluster === "string" ? cluster : undefined;
      } catch {
        return undefined;
      }
    },

    decide(id, decision, by) {
      const decidedBy = JSON.stringify(identitySchema.parse(by));
      const decidedAt = new Date(now()).toISOString();
      return transition(
        id,
        ["pending"],
        decision,
        (current) => ({
          decision,
          decidedBy,
          decidedAt,
          decisionMac: options.signer.macRecord(
            current.cluster,
            decisionRecord(current, decision, decidedBy, decidedAt),
          ),
        }),
        true,
        true,
      );
    },

    beginExecution(id, owner) {
      const at = String(now());
      return transition(
        id,
        ["approved"],
        "executing",
        (current) => ({
          executingSinceMs: at,
          owner,
          heartbeatMs: at,
          beganMac: options.signer.macRecord(current.cluster, beganRecord(current, owner, at)),
        }),
        false,
        true,
      );
    },

    async heartbeat(ids, owner) {
      for (const id of ids) {
        if (!ACTION_ID_PATTERN.test(id)) continue;
        await redis.eval(HEARTBEAT_SCRIPT, 1, key(id), owner, String(now()));
      }
    },

    async recordStep(id, step) {
      if (!ACTION_ID_PATTERN.test(id)) return;
      const checked = stepSchema.parse(step);
      await redis.eval(STEP_SCRIPT, 2, key(id), stepsKey(id), JSON.stringify(checked), checked.status);
    },

    async steps(id) {
      if (!ACTION_ID_PATTERN.test(id)) return [];
      const raw = await redis.lrange(stepsKey(id), 0, -1);
      return raw.flatMap((line) => {
        const parsed = stepSchema.safeParse(parseJson(line));
        return parsed.success ? [parsed.data] : [];
      });
    },

    async listOrphaned(staleMs) {
      const ids = await redis.zrange(indexKey("executing"), 0, -1);
      const cutoff = now() - staleMs;
      const orphaned: (PendingAction & { owner: string | undefined })[] = [];
      for (const id of ids) {
        const [owner, beat] = await redis.hmget(key(id), "owner", "heartbeatMs");
        if (Number(beat ?? "0") > cutoff) continue;
        const action = await load(id).catch(() => undefined);
        if (action?.state === "executing") orphaned.push({ ...action, owner: owner ?? undefined });
      }
      return orphaned;
    },

    async recordLease(id, leaseId) {
      await redis.hset(key(id), "leaseId", leaseId);
    },

    async finish(id, state, outcome) {
      const text = JSON.stringify(outcomeSchema.parse(outcome));
      const result = await transition(
        id,
        ["executing", "approved"],
        state,
        (current) => ({
          finalState: state,
          outcome: text,
          outcomeMac: options.signer.macRecord(current.cluster, outcomeRecord(current, state, text)),
        }),
        false,
        true,
      ).catch(async (error: unknown) => {
        if (error instanceof ActionUnconfirmed) await redis.expire(stepsKey(id), retention);
        throw error;
      });
      // The step log is kept as long as the action's story.
      if (result.ok) await redis.expire(stepsKey(id), retention);
      return result;
    },

    async expireDue() {
      const due = await redis.zrangebyscore(indexKey("pending"), 0, now());
      const expired: string[] = [];
      for (const id of due) {
        const result = await transition(id, ["pending"], "expired", () => ({}), true).catch(
          (error: unknown) => {
            if (error instanceof ActionTampered) return undefined;
            throw error;
          },
        );
        if (result && !result.ok && result.reason === "expired") expired.push(id);
        if (result && !result.ok && result.reason === "missing") await redis.zrem(indexKey("pending"), id);
      }
      return expired;
    },

    async listStale(olderThanMs) {
      const cutoff = now() - olderThanMs;
      const ids = [
        ...(await redis.zrangebyscore(indexKey("approved"), 0, cutoff)),
        ...(await redis.zrangebyscore(indexKey("executing"), 0, cutoff)),
      ];
      return loadMany(ids);
    },

    async leaseOf(id) {
      if (!ACTION_ID_PATTERN.test(id)) return undefined;
      return (await redis.hget(key(id), "leaseId")) ?? undefined;
    },

    async rememberUnrevokedLease(lease) {
      const checked = unrevokedLeaseSchema.parse(lease);
      await redis.hset(unrevokedKey, checked.leaseId, JSON.stringify(checked));
    },

    async unrevokedLeases() {
      const all = await redis.hgetall(unrevokedKey);
      return Object.values(all).flatMap((text) => {
        const parsed = unrevokedLeaseSchema.safeParse(parseJson(text));
        return parsed.success ? [parsed.data] : [];
      });
    },

    async forgetUnrevokedLease(leaseId) {
      await redis.hdel(unrevokedKey, leaseId);
    },

    async executions(id) {
      if (!ACTION_ID_PATTERN.test(id)) return 0;
      return Number((await redis.hget(key(id), "executions")) ?? "0");
    },

    async countByState() {
      const counts = await Promise.all(INDEXED_STATES.map((state) => redis.zcard(indexKey(state))));
      return Object.fromEntries(INDEXED_STATES.map((state, i) => [state, counts[i] ?? 0]));
    },

    async list(state, limit = 100) {
      return loadMany(await redis.zrange(indexKey(state), 0, limit - 1));
    },
  };
}

/** The store as configured (DEPUTY_APPROVAL_TTL_SECONDS, the Redis prefix), signing with the action key. */
export function createActionStoreFromConfig(config: Config, redis: Redis, actionKey: Buffer): ActionStore {
  return createActionStore(redis, {
    prefix: config.redis.prefix,
    ttlSeconds: config.approvals.ttlSeconds,
    signer: createActionSigner(actionKey),
  });
}
