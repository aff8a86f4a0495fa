import type { AuditLog } from "../core/audit/log.ts";
import type { Redis } from "ioredis";
import type { Identity } from "../core/identity/identity.ts";
import type { Logger } from "../core/observability/logger.ts";
import type { ApprovalDecider } from "../executor/approval-executor.ts";
import type { ActionStore } from "../core/actions/store.ts";
import type { RequesterAccess } from "./access.ts";
import type { BotApprovalPolicy } from "./approvers.ts";
import type { AgentTurnInput, AgentTurnResult } from "./agent/types.ts";
import type { AgentUsageLimit } from "./agent/usage-limit.ts";
import type { BackgroundTasks } from "./background.ts";
import type { CardTracker } from "./card-tracker.ts";
import type { ServedClusters } from "./clusters.ts";
import type { ConversationStore } from "./conversation-store.ts";
import type { Deduper } from "./dedupe.ts";
import type { WritePauseControl } from "./write-pause.ts";
import type { IncidentMemory } from "./memory/incident-memory.ts";
import type { TurnLeases } from "./turn-lease.ts";

/** The executor's decision API (in-process or over HTTP); the model never sees it. */
export type { ApprovalDecider };

/** How executed actions are watched afterwards (bot/handlers/verify-outcome.ts). */
export interface FollowUpSettings {
  /** How long to wait for the effect before saying it did not happen. */
  timeoutMs: number;
  /** Spacing of the reads while waiting. */
  intervalMs: number;
}

export const DEFAULT_FOLLOW_UP: FollowUpSettings = { timeoutMs: 300_000, intervalMs: 5_000 };

export interface AgentRunner {
  run(input: AgentTurnInput): Promise<AgentTurnResult>;
}

/** What every listener needs, built once in createSlackApp. */
export interface BotServices {
  logger: Logger;
  /** Each served cluster's MCP client and executor; a thread works on one of them. */
  clusters: ServedClusters;
  /** Undefined without an Anthropic key: direct commands still work. */
  agent: AgentRunner | undefined;
  /** Stored actions, read (and verified) to render cards; never written here. */
  actions: ActionStore;
  /** Card updates the bot makes on its own (the expiry sweep) are audited here. */
  audit: AuditLog | undefined;
  conversations: ConversationStore;
  /** Where open approval cards are, to mark them expired. */
  cards: CardTracker;
  deduper: Deduper;
  tasks: BackgroundTasks;
  /** Who may ask from where; checked before any tool call. */
  access: RequesterAccess;
  /** `/deputy resume-writes` and the alert's button. */
  writePause: WritePauseControl;
  /** `<!subteam^…>` or `<@U…>` mentions for the approval card. */
  approverMention: string | undefined;
  /**
   * The approval policy file, for what the cards show (which rule, who may
   * approve, break-glass); undefined with the built-in policy. The executor decides.
   */
  approvalPolicy: BotApprovalPolicy | undefined;
  /** Spacing of progress edits (Slack rate limits chat.update). */
  statusIntervalMs: number;
  /** Each thread's turn lease, renewed while a turn runs and adopted when its replica stops. */
  turns: TurnLeases;
  /** How executed actions are watched afterwards. */
  followUp: FollowUpSettings;
  /** Shared state (write pause, alert dedupe); keys start with redisPrefix. */
  redis: Redis;
  redisPrefix: string;
  /** A person's hourly agent turns and model tokens per cluster; undefined: no limit. */
  agentLimit: AgentUsageLimit | undefined;
  /** Remembered fixes and each thread's record (DEPUTY_MEMORY_RETENTION_DAYS); undefined: off. */
  memory: IncidentMemory | undefined;
  /** The executor's approver rule, for what the bot offers (the executor still decides). */
  isApprover(identity: Identity): Promise<boolean>;
}
