import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiError, startAnthropicFake, text, type AnthropicFake } from "../fakes/anthropic.ts";
import { startSlackFake, type FakeMessage, type SlackFake } from "../fakes/slack.ts";
import { startFaultBot, type FaultBot } from "./bot.ts";
import { eventually, startOwnRedis, type OwnRedis } from "./support.ts";

/** The SaaS ends failing: the model service overloaded for longer than the retry window, Slack refusing a post. */
const ALICE = "U0SMALICE";
const CHANNEL = "C0SAAS";

let redis: OwnRedis;
let slack: SlackFake;
let model: AnthropicFake;
let running: FaultBot;

function botMessages(threadTs: string): FakeMessage[] {
  return slack.thread(CHANNEL, threadTs).filter((m) => m.user === slack.botUserId && !m.ephemeralTo);
}

beforeAll(async () => {
  [redis, slack, model] = await Promise.all([startOwnRedis(), startSlackFake(), startAnthropicFake()]);
  running = await startFaultBot({
    slack,
    model,
    redisUrl: redis.url,
    env: { DEPUTY_MODEL_RETRY_SECONDS: "2" },
  });
});

afterAll(async () => {
  await running?.close();
  await Promise.all([redis?.close(), slack?.close(), model?.close()]);
});

describe("the model service overloaded", () => {
  it("shows that it is retrying, keeps trying for the configured window, then says so grammatically", async () => {
    model.setScript(() => apiError(529, "overloaded_error"));
    const started = Date.now();
    const asked = await slack.mention({ user: ALICE, text: "why is checkout crashing?", channel: CHANNEL });
    const final = await eventually(
      () => botMessages(asked.ts).find((m) => m.text.includes("Please ask again")),
      "the final sentence",
    );
    expect(final.text).toMatch(
      /^I could not finish: The model service is overloaded \(HTTP 529\); I tried for 2\.\d s\. Please ask again in a few minutes\.$/,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    expect(model.requests.length).toBeGreaterThanOrEqual(3);
    // While it retried, the status line said so.
    const edits = slack.callsOf("chat.update").filter((call) => call.args.ts === final.ts);
    expect(
      edits.some((call) =>
        JSON.stringify(call.args).includes("The model service is overloaded (HTTP 529); retrying in"),
      ),
    ).toBe(true);
  });
});

describe("Slack refusing a post", () => {
  it("still leaves a sentence in the thread when the status message cannot be posted", async () => {
    model.setScript([text("never reached")]);
    slack.failNext("chat.postMessage", { error: "internal_error" });
    const asked = await slack.mention({ user: ALICE, text: "how is shop?", channel: CHANNEL });
    const reply = await eventually(() => botMessages(asked.ts).at(-1), "a reply in the thread");
    expect(reply.text).toBe(
      "I couldn't answer because Slack refused one of my messages (internal_error); please ask again in a minute.",
    );
  });
});
