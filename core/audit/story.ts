import type { AuditRecord } from "./log.ts";
import { DeputyError } from "../errors.ts";
import { identityKey, type ConversationRef, type Identity } from "../identity/identity.ts";

/**
 * "Why did the AI do that?" — the story of one action told from its audit
 * records: who asked with which prompt, which tool and arguments, the policy
 * decisions, the pending card, who approved or rejected and when, the OpenBao
 * lease, the Kubernetes status code, the duration and the outcome.
 */

export type StoryOutcome =
  "pending" | "approved" | "rejected" | "expired" | "refused" | "succeeded" | "failed" | "interrupted";

export interface ActionStory {
  actionId: string;
  outcome: StoryOutcome;
  records: AuditRecord[];
  lines: string[];
  text: string;
}

function who(identity: Identity | undefined): string {
  if (!identity) return "someone unknown";
  const name = identity.name ? `${identity.name} ` : "";
  const where =
    identity.kind === "slack" ? `slack ${identity.teamId ?? "-"}/${identity.id}` : `local ${identity.id}`;
  return `${name}(${where})`;
}

function where(conversation: ConversationRef | undefined): string {
  if (!conversation) return "";
  const team = conversation.teamId ? `${conversation.teamId}/` : "";
  return ` in ${conversation.surface} ${team}${conversation.channel}, thread ${conversation.thread}`;
}

function args(value: Record<string, unknown> | undefined): string {
  if (!value || Object.keys(value).length === 0) return "with no arguments";
  return `with ${JSON.stringify(value)}`;
}

function quote(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return JSON.stringify(flat.length > max ? `${flat.slice(0, max)}…` : flat);
}

function seconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function describe(record: AuditRecord, pendingAt: number | undefined): string {
  const parts: string[] = [];
  switch (record.kind) {
    case "tool_call": {
      parts.push(`${who(record.actor)} called ${record.tool ?? "a tool"} ${args(record.arguments)}`);
      if (record.outcome) parts.push(`→ ${record.outcome}`);
      if (record.durationMs !== undefined) parts.push(`in ${seconds(record.durationMs)}`);
      break;
    }
    case "policy_decision": {
      const verdict = record.decision === "deny" || record.decision === "refused" ? "refused" : "allowed";
      parts.push(`policy ${verdict} ${record.tool ?? "the action"}`);
      if (record.rule) parts.push(`by rule ${record.rule}`);
      break;
    }
    case "pending_action": {
      parts.push(
        `${record.tool ?? "the action"} ${args(record.arguments)} stored as pending, waiting for an approver`,
      );
      if (record.reason) parts.push(`— agent's reason: ${quote(record.reason)}`);
      break;
    }
    case "approval_decision": {
      const decider = record.approver;
      if (record.decision === "expired") {
        parts.push(
          decider
            ? `it had expired when ${who(decider)} tried to decide on it`
            : "it expired without a decision",
        );
      } else {
        const verb =
          record.decision === "approved"
            ? "approved"
            : record.decision === "rejected"
              ? "rejected"
              : record.decision === "refused"
                ? "was refused permission to decide on"
                : (record.decision ?? "decided on");
        parts.push(`${who(decider ?? record.actor)} ${verb} it`);
      }
      if (record.rule) parts.push(`(rule ${record.rule})`);
      if (pendingAt !== undefined) {
        parts.push(`${seconds(Date.parse(record.time) - pendingAt)} after it was proposed`);
      }
      break;
    }
    case "execution": {
      parts.push(`executed ${record.tool ?? "the action"}`);
      if (record.leaseId) parts.push(`with OpenBao lease ${record.leaseId}`);
      if (record.kubeStatus !== undefined) parts.push(`— Kubernetes answered ${record.kubeStatus}`);
      if (record.durationMs !== undefined) parts.push(`in ${seconds(record.durationMs)}`);
      if (record.outcome) parts.push(`→ ${record.outcome}`);
      break;
    }
    case "anomaly":
      parts.push(`anomaly alert${record.rule ? ` ${record.rule}` : ""}`);
      break;
    case "triage":
      parts.push(`triage${record.rule ? ` ${record.rule}` : ""}`);
      break;
    case "card_update": {
      const shows = record.details?.cardShows;
      parts.push(`the approval card was updated${typeof shows === "string" ? ` to show ${shows}` : ""}`);
      break;
    }
  }
  if (record.message) parts.push(`: ${quote(record.message)}`);
  return `${record.time}  ${parts.join(" ")}`.replace(/ :/g, ":");
}

function outcomeOf(records: AuditRecord[]): StoryOutcome {
  let outcome: StoryOutcome = "pending";
  for (const record of records) {
    if (record.kind === "execution") {
      if (record.outcome === "succeeded" || record.outcome === "ok") outcome = "succeeded";
      else if (record.outcome === "failed" || record.outcome === "error") outcome = "failed";
      else if (record.outcome === "interrupted") outcome = "interrupted";
    } else if (record.kind === "approval_decision") {
      if (record.decision === "approved" || record.decision === "rejected" || record.decision === "expired") {
        outcome = record.decision;
      }
    } else if (
      record.kind === "policy_decision" &&
      (record.decision === "deny" || record.decision === "refused")
    ) {
      outcome = "refused";
    }
  }
  return outcome;
}

/**
 * Story order: each writer's chain in seq order, chains merged by time (a
 * tie goes to the chain seen first). Sorting by time alone could reorder one
 * writer's records when its clock steps back.
 */
function storyOrder(records: readonly AuditRecord[]): AuditRecord[] {
  const chains = new Map<string, AuditRecord[]>();
  for (const record of records) {
    const key = record.chain ?? "";
    const list = chains.get(key) ?? [];
    list.push(record);
    chains.set(key, list);
  }
  const queues = [...chains.values()].map((list) => list.sort((a, b) => a.seq - b.seq));
  const out: AuditRecord[] = [];
  for (;;) {
    let best: AuditRecord[] | undefined;
    for (const queue of queues) {
      if (queue.length === 0) continue;
      if (!best || Date.parse(queue[0]!.time) < Date.parse(best[0]!.time)) best = queue;
    }
    if (!best) return out;
    out.push(best.shift()!);
  }
}

function sameTarget(a: AuditRecord, b: AuditRecord): boolean {
  for (const field of ["namespace", "name", "pod", "node", "deployment"]) {
    const x = a.arguments?.[field];
    const y = b.arguments?.[field];
    if (x !== undefined && y !== undefined && x !== y) return false;
  }
  return true;
}

/**
 * The tool call and policy decisions that produced a pending action are
 * written before the action has an id, so they carry none. They are found
 * next to the pending record in the same writer's chain: same tool, same
 * requester, same target; policy decisions since that requester's previous
 * call of the tool, and the first tool_call record after it.
 */
function linkedRecords(records: readonly AuditRecord[], pending: AuditRecord | undefined): AuditRecord[] {
  if (!pending) return [];
  const related = (record: AuditRecord): boolean =>
    record.actionId === undefined &&
    (record.chain ?? "") === (pending.chain ?? "") &&
    record.tool === pending.tool &&
    (record.actor ? identityKey(record.actor) : "") === (pending.actor ? identityKey(pending.actor) : "") &&
    Math.abs(record.seq - pending.seq) <= 50 &&
    sameTarget(record, pending);
  const candidates = records.filter(related);
  const callAfter = candidates
    .filter((record) => record.kind === "tool_call" && record.seq > pending.seq)
    .sort((a, b) => a.seq - b.seq)[0];
  const previousCall = candidates
    .filter((record) => record.kind === "tool_call" && record.seq < pending.seq)
    .reduce((max, record) => Math.max(max, record.seq), -1);
  const decisions = candidates.filter(
    (record) => record.kind === "policy_decision" && record.seq > previousCall && record.seq < pending.seq,
  );
  return [...decisions, ...(callAfter ? [callAfter] : [])];
}

/** The story of `actionId`, from records in chain order. Throws NOT_FOUND when there are none. */
export function actionStory(records: Iterable<AuditRecord>, actionId: string): ActionStory {
  const all = [...records];
  const own = all.filter((record) => record.actionId === actionId);
  if (own.length === 0) {
    throw new DeputyError("NOT_FOUND", `no audit records for action ${actionId}`, { details: { actionId } });
  }
  const pendingRecord = own.find((record) => record.kind === "pending_action");
  const mine = storyOrder([...own, ...linkedRecords(all, pendingRecord)]);
  const first = mine[0]!;
  const asker = mine.find((record) => record.actor)?.actor;
  const conversation = mine.find((record) => record.conversation)?.conversation;
  const prompt = mine.find((record) => record.prompt)?.prompt;
  const cluster = mine.find((record) => record.cluster)?.cluster;
  const pendingAt = pendingRecord ? Date.parse(pendingRecord.time) : undefined;
  const outcome = outcomeOf(mine);

  const lines = [
    `Action ${actionId}${cluster ? ` on cluster ${cluster}` : ""}: ${outcome}`,
    `${who(asker)} asked${where(conversation)}${prompt ? `: ${quote(prompt, 500)}` : ""}`,
    ...mine.map((record) => `  ${describe(record, pendingAt)}`),
  ];
  const last = mine[mine.length - 1]!;
  const elapsed = Date.parse(last.time) - Date.parse(first.time);
  if (Number.isFinite(elapsed))
    lines.push(`Outcome: ${outcome}, ${seconds(elapsed)} from first to last record.`);
  return { actionId, outcome, records: mine, lines, text: `${lines.join("\n")}\n` };
}
