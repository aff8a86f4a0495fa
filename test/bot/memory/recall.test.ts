import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recallBlocks, recallLine } from "../../../bot/blocks/memory.ts";
import {
  createIncidentMemory,
  memoryNoteForAgent,
  recallForDiagnoses,
  type IncidentMemory,
  type MemoryServices,
} from "../../../bot/memory/incident-memory.ts";
import { conversationScope } from "../../../core/identity/access.ts";
import { findFenceTags } from "../../../core/untrusted/fence.ts";
import type { ConversationRef } from "../../../core/identity/identity.ts";
import { createLogger } from "../../../core/observability/logger.ts";
import type { DiagnosedWorkload } from "../../../core/memory/diagnosis.ts";
import type { FixRecord } from "../../../core/memory/fix-record.ts";
import { connectRedis, dropPrefix, testPrefix } from "../../executor/support.ts";
import { fixRecord } from "../../helpers/fix-records.ts";

/** Recall as a conversation sees it: its cluster, its namespace scope, Deputy's words. */
let redis: Redis;
let prefix: string;
let memory: IncidentMemory;
let services: MemoryServices;

const FIX: FixRecord = fixRecord({
  id: "act_recallscopetest000000000001",
  change: {
    tool: "set_deployment_env",
    input: { container: "web", set: { PAYMENT_GATEWAY_URL: "https://pay" }, remove: [] },
  },
  thread: {
    channel: "C0SHOP",
    ts: "1764756000.000100",
    link: "https://acme.slack.com/archives/C0SHOP/p1764756000000100",
  },
});

const diagnosed: DiagnosedWorkload = {
  namespace: "shop",
  workload: { kind: "Deployment", name: "checkout" },
  pod: "checkout-7d9f-x",
  causes: [{ rule: "crash-loop", key: "crash-loop:missing-config", facts: { container: "web" } }],
};

const where = (channel: string): ConversationRef => ({
  surface: "slack",
  channel,
  thread: "1765080000.000200",
});

beforeAll(async () => {
  redis = connectRedis();
  prefix = testPrefix("memory-recall");
  memory = createIncidentMemory(redis, { prefix, retentionSeconds: 90 * 24 * 3600 });
  const access = { channelNamespaces: { C0SHOP: ["shop"], C0PAY: ["payments"], dm: ["sandbox"] } };
  services = {
    memory,
    logger: createLogger({ level: "silent" }),
    access: { scopeOf: (conversation) => conversationScope(access, conversation) },
  };
  await memory.fixes.record(FIX);
});
afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

describe("recall in a conversation", () => {
  it("finds the fix in its cluster and namespace scope, and notes the diagnosis in the thread in the same round trip", async () => {
    const found = await recallForDiagnoses(services, where("C0SHOP"), "prod-eu", [diagnosed]);
    expect(found?.recall.fix.id).toBe(FIX.id);
    const kinds = (await memory.journal.read({ channel: "C0SHOP", thread: "1765080000.000200" })).map(
      (e) => e.kind,
    );
    expect(kinds).toEqual(["diagnosis"]);
  });

  it("recalls nothing for a channel scoped elsewhere, a direct message of another scope, or another cluster", async () => {
    expect(await recallForDiagnoses(services, where("C0PAY"), "prod-eu", [diagnosed])).toBeUndefined();
    expect(await recallForDiagnoses(services, where("D0ALICE"), "prod-eu", [diagnosed])).toBeUndefined();
    expect(await recallForDiagnoses(services, where("C0UNLISTED"), "prod-eu", [diagnosed])).toBeUndefined();
    expect(await recallForDiagnoses(services, where("C0SHOP"), "prod-us", [diagnosed])).toBeUndefined();
  });

  it("says it in one line with the approver, the result and the thread, and gives the model the facts as Deputy's note", async () => {
    const found = (await recallForDiagnoses(services, where("C0SHOP"), "prod-eu", [diagnosed]))!;
    const now = Date.parse("2026-12-07T03:00:00Z");
    expect(recallLine(found.recall, now)).toBe(
      ":brain: *Seen before* on 3 Dec: the same cause on deployment shop/checkout was fixed by setting PAYMENT_GATEWAY_URL (approved by <@U0BOB>, verified healthy after 40 s) — <https://acme.slack.com/archives/C0SHOP/p1764756000000100|thread>. Cause: a crash loop of web (a missing configuration setting).",
    );
    expect(recallBlocks(found.recall, "Deployment").at(-1)).toMatchObject({
      type: "actions",
      elements: [{ action_id: "deputy_propose_same_fix", value: FIX.id }],
    });
    // A StatefulSet's diagnosis gets the line but no button: the remembered change is a Deployment's.
    expect(recallBlocks(found.recall, "StatefulSet")).toHaveLength(1);
    const note = memoryNoteForAgent(found, now);
    expect(note.startsWith(`<deputy-memory fix="${FIX.id}" trust="trusted">`)).toBe(true);
    expect(note).toContain("approved by slack:U0BOB; result: verified healthy after 40 s");
    expect(note).toContain("1 worked, 0 did not");
    // Only the tag itself reads as a Deputy marker: nothing inside could close it or open another.
    const inner = note.split("\n").slice(1, -1).join("\n");
    expect(findFenceTags(inner)).toEqual([]);
  });
});
