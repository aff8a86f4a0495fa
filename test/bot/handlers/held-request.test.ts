import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { holdRequest, takeHeldRequest } from "../../../bot/handlers/ask-about-message.ts";
import type { BotServices } from "../../../bot/deps.ts";

const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { lazyConnect: false });
const prefix = `deputy-test:${randomBytes(6).toString("hex")}:`;
/** Holding a request needs Redis and its prefix only. */
const services = { redis, redisPrefix: prefix } as unknown as BotServices;

afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

describe("a request held while its asker picks a cluster", () => {
  it("keeps the handed-over message redacted: a secret in it is not stored", async () => {
    const secret = `Sup3r${randomBytes(6).toString("hex")}`;
    const id = await holdRequest(services, {
      requester: { kind: "slack", id: "U0ALICE", teamId: "T1" },
      subject: {
        channel: "C1",
        ts: "1800000000.000100",
        threadTs: undefined,
        author: "U0SOMEONE",
        text: `db down, I ran mysql -uroot -p${secret} shop`,
      },
      botUserId: undefined,
    });
    const stored = JSON.stringify(await redis.get(`${prefix}ask-held:${id}`));
    expect(stored).not.toContain(secret);
    const held = await takeHeldRequest(services, id, "U0ALICE");
    expect(held).toMatchObject({ subject: { text: "db down, I ran mysql -uroot -p[redacted] shop" } });
  });
});
