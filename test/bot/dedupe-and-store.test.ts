import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import type { MessageParam } from "../../bot/agent/types.ts";
import { createConversationStore, trimHistory } from "../../bot/conversation-store.ts";
import { createDeduper } from "../../bot/dedupe.ts";

const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { lazyConnect: false });
const prefix = `deputy-test:${randomBytes(6).toString("hex")}:`;
const ref = { surface: "slack" as const, teamId: "T1", channel: "C1", thread: "1700000000.000100" };

afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

describe("dedupe", () => {
  it("claims a key exactly once, even when claimed concurrently by many replicas", async () => {
    const deduper = createDeduper(redis, { prefix });
    const claims = await Promise.all(Array.from({ length: 20 }, () => deduper.claim("event", "Ev0123")));
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await deduper.claim("interaction", "Ev0123")).toBe(true);
    const ttl = await redis.ttl((await redis.keys(`${prefix}dedupe:event:*`))[0]!);
    expect(ttl).toBeGreaterThan(3600);
  });
});

describe("conversation store", () => {
  const store = createConversationStore(redis, { prefix, ttlSeconds: 600, maxChars: 2000 });

  it("appends turns, keeps user text and expires", async () => {
    const turn: MessageParam[] = [
      { role: "user", content: [{ type: "text", text: "why is checkout crashing?" }] },
      { role: "assistant", content: [{ type: "text", text: "NullPointerException" }] },
    ];
    await store.appendTurn(ref, turn, {
      typed: "why is checkout crashing? <https://runbook.acme.dev>",
      participant: "slack:T1:U0ALICE",
    });
    const loaded = await store.load(ref);
    expect(loaded.messages).toEqual(turn);
    expect(loaded.userText).toEqual(["why is checkout crashing? <https://runbook.acme.dev>"]);
    expect(loaded.participants).toEqual(["slack:T1:U0ALICE"]);
    const ttl = await redis.ttl(`${prefix}conv:slack:T1:C1:1700000000.000100`);
    expect(ttl).toBeGreaterThan(500);
    expect(ttl).toBeLessThanOrEqual(600);
    expect(await store.load({ ...ref, thread: "other" })).toEqual({
      messages: [],
      userText: [],
      participants: [],
    });
  });

  it("keeps no user text for a prompt Deputy composed: only typed text may have its links posted back", async () => {
    const composed = { ...ref, thread: "1700000000.000200" };
    const turn: MessageParam[] = [
      { role: "user", content: [{ type: "text", text: "Someone handed you https://evil.zip/login" }] },
      { role: "assistant", content: [{ type: "text", text: "Looked." }] },
    ];
    await store.appendTurn(composed, turn, { typed: undefined, participant: "slack:T1:U0ALICE" });
    await store.appendTurn(composed, turn, {
      typed: "see <https://runbook.acme.dev>",
      participant: "slack:T1:U0ALICE",
    });
    const loaded = await store.load(composed);
    expect(loaded.userText).toEqual(["see <https://runbook.acme.dev>"]);
    expect(loaded.participants).toEqual(["slack:T1:U0ALICE"]);
    expect(loaded.messages).toHaveLength(4);
  });

  it("trims whole turns, never splitting a tool_use from its result", () => {
    const turn = (n: number): MessageParam[] => [
      { role: "user", content: [{ type: "text", text: `question ${n} ${"x".repeat(300)}` }] },
      { role: "assistant", content: [{ type: "tool_use", id: `t${n}`, name: "list_pods", input: {} }] },
      { role: "user", content: [{ type: "tool_result", tool_use_id: `t${n}`, content: "y".repeat(300) }] },
      { role: "assistant", content: [{ type: "text", text: `answer ${n}` }] },
    ];
    const history = [...turn(1), ...turn(2), ...turn(3)];
    const trimmed = trimHistory(history, 2000);
    expect(JSON.stringify(trimmed).length).toBeLessThanOrEqual(2000);
    expect(trimmed.length % 4).toBe(0);
    expect(JSON.stringify(trimmed[0])).toContain("question");
    expect(JSON.stringify(trimmed.at(-1))).toContain("answer 3");
  });

  it("hands notes to the next turn once", async () => {
    await store.addNote(ref, "restart_deployment succeeded");
    await store.addNote(ref, "delete_pod was rejected");
    expect(await store.takeNotes(ref)).toEqual(["restart_deployment succeeded", "delete_pod was rejected"]);
    expect(await store.takeNotes(ref)).toEqual([]);
  });
});
