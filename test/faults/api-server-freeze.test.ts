import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKubeClients } from "../../core/kube/client.ts";
import { startAnthropicFake, toolUse, text, type AnthropicFake } from "../fakes/anthropic.ts";
import { startSlackFake, type FakeMessage, type SlackFake } from "../fakes/slack.ts";
import { loadTestEnv } from "../helpers/testenv.ts";
import { startFaultBot, type FaultBot } from "./bot.ts";
import { startPausableProxy, type PausableProxy } from "../helpers/pausable-proxy.ts";
import { eventually, startOwnRedis, type OwnRedis } from "./support.ts";

/**
 * The API server stops answering: TCP still connects, nothing comes back. A
 * proxy in front of the real API server freezes its traffic. Deputy must say
 * within its own deadline that Kubernetes did not answer, naming the server,
 * not let the MCP call time out as "MCP error -32001".
 */
const ALICE = "U0FRZALICE";
const CHANNEL = "C0FREEZE";

let redis: OwnRedis;
let slack: SlackFake;
let model: AnthropicFake;
let proxy: PausableProxy;
let running: FaultBot;
let server: string;
let kubeconfig: string;
let dir: string;

function botMessages(threadTs: string): FakeMessage[] {
  return slack.thread(CHANNEL, threadTs).filter((m) => m.user === slack.botUserId && !m.ephemeralTo);
}

beforeAll(async () => {
  const env = loadTestEnv();
  const upstream = new URL(env.server);
  [redis, slack, model, proxy] = await Promise.all([
    startOwnRedis(),
    startSlackFake(),
    startAnthropicFake(),
    startPausableProxy({ host: upstream.hostname, port: Number(upstream.port) }),
  ]);
  // The same kubeconfig, pointed at the proxy (the server certificate is for 127.0.0.1 either way).
  server = `https://127.0.0.1:${proxy.port}`;
  dir = await mkdtemp(join(tmpdir(), "deputy-faults-kube-"));
  kubeconfig = join(dir, "kubeconfig");
  await writeFile(kubeconfig, (await readFile(env.kubeconfig, "utf8")).replaceAll(env.server, server));
  running = await startFaultBot({
    slack,
    model,
    redisUrl: redis.url,
    kubeconfig,
    env: { DEPUTY_KUBE_TIMEOUT_SECONDS: "2" },
  });
});

afterAll(async () => {
  proxy?.resume();
  await running?.close();
  await Promise.all([redis?.close(), slack?.close(), model?.close(), proxy?.close()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("a frozen API server", () => {
  it("fails one read at the call's deadline, retries and the wait for a slot included, naming the server", async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const kube = createKubeClients(kc, { callTimeoutMs: 1500, maxConcurrency: 1 });
    try {
      expect((await kube.core.readNamespace("shop")).metadata?.name).toBe("shop");
      proxy.pause();
      const started = Date.now();
      const [first, queued] = await Promise.allSettled([
        kube.core.readPod("shop", "no-such-pod"),
        kube.core.listNodes(),
      ]);
      const took = Date.now() - started;
      for (const outcome of [first, queued]) {
        expect(outcome.status).toBe("rejected");
        const error = (outcome as PromiseRejectedResult).reason as Error;
        expect(error.message).toBe(`the Kubernetes API server at ${server} did not answer within 1.5 s`);
      }
      expect(took).toBeGreaterThanOrEqual(1400);
      expect(took).toBeLessThan(4000);
    } finally {
      proxy.resume();
      kube.close();
    }
  });

  it("is reported by name within the per-call deadline, for a direct command", async () => {
    const before = await slack.mention({ user: ALICE, text: "pods shop", channel: CHANNEL });
    await eventually(
      () => botMessages(before.ts).find((m) => m.text.includes("checkout")),
      "a normal answer before the freeze",
    );

    proxy.pause();
    try {
      const started = Date.now();
      const asked = await slack.mention({
        user: ALICE,
        text: "troubleshoot shop/checkout",
        channel: CHANNEL,
      });
      const reply = await eventually(
        () => botMessages(asked.ts).find((m) => m.text.includes("did not answer")),
        "the frozen API server named in the thread",
        40_000,
      );
      // The sanitiser shows a link nobody in the thread wrote as code, not as a link.
      // In Slack, URL-shaped text the user did not give is made inert like any other.
      const inert = server.replace("https://", "hxxps[:]//").replaceAll(".", "[.]");
      expect(reply.text).toContain(`the Kubernetes API server at ${inert} did not answer within 2 s`);
      expect(reply.text).not.toContain("-32001");
      // Well under the 60 s MCP request timeout.
      expect(Date.now() - started).toBeLessThan(20_000);
    } finally {
      proxy.resume();
    }
  }, 60_000);

  it("is reported by name to the model, which can tell the user", async () => {
    proxy.pause();
    try {
      model.setScript([
        toolUse("list_pods", { namespace: "shop" }),
        text("Kubernetes is not answering right now."),
      ]);
      const asked = await slack.mention({ user: ALICE, text: "what runs in shop?", channel: CHANNEL });
      await eventually(
        () => botMessages(asked.ts).find((m) => m.text.includes("not answering right now")),
        "the model's answer",
        40_000,
      );
      const toolResult = JSON.stringify(model.requests.at(-1)!.body.messages.at(-1));
      expect(toolResult).toContain(`the Kubernetes API server at ${server} did not answer within 2 s`);
      expect(toolResult).not.toContain("-32001");
    } finally {
      proxy.resume();
    }
  }, 60_000);
});
