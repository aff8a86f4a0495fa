import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXECUTOR_NAMESPACE, prepareWriteEnv } from "../../executor/write-env.ts";
import { startDelayProxy, type DelayProxy } from "../../faults/helpers/delay-proxy.ts";
import { startSlackFake, type SlackFake } from "../../fakes/slack.ts";
import { ensureKeysInOpenBao, TEST_KEYS_PATH } from "../../helpers/deputy-keys.ts";
import {
  otlpEnv,
  startOtlpReceiver,
  traceOf,
  type ExportedSpan,
  type OtlpReceiver,
} from "../../helpers/otlp-receiver.ts";
import { loadTestEnv, mintServiceAccountToken } from "../../helpers/testenv.ts";

const cli = join(import.meta.dirname, "../../../cli/deputy.ts");

async function deputyBot(
  env: Record<string, string>,
  args: string[] = [],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [cli, "bot", ...args], {
      env: { PATH: process.env.PATH ?? "", ...env },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("deputy bot", () => {
  it("prints its usage", async () => {
    const result = await deputyBot({}, ["--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("Socket Mode (default, no inbound traffic)");
  });

  it("refuses to start without the keys to sign its requests to a separate executor", async () => {
    const result = await deputyBot({
      SLACK_BOT_TOKEN: "xoxb-test",
      SLACK_APP_TOKEN: "xapp-test",
      DEPUTY_MCP_URL: "http://127.0.0.1:9/mcp",
      DEPUTY_EXECUTOR_URL: "http://127.0.0.1:9/",
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      "deputy bot needs Deputy's action, mcpCaller and executorCaller keys and has none: set DEPUTY_KEYS_FROM_OPENBAO",
    );
  });

  it("names the missing secret and starts nothing", async () => {
    const [none, socket, http, bad] = await Promise.all([
      deputyBot({}),
      deputyBot({ SLACK_BOT_TOKEN: "xoxb-test" }),
      deputyBot({ SLACK_BOT_TOKEN: "xoxb-test", SLACK_SOCKET_MODE: "false" }),
      deputyBot({ SLACK_BOT_TOKEN: "xoxb-test", SLACK_SOCKET_MODE: "maybe" }),
    ]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("deputy: CONFIG_INVALID: SLACK_BOT_TOKEN is required to run the Slack app");
    expect(socket.stderr).toContain("SLACK_APP_TOKEN is required in Socket Mode");
    expect(http.stderr).toContain("SLACK_SIGNING_SECRET is required in HTTP mode");
    expect(bad.stderr).toContain("SLACK_SOCKET_MODE");
  });
});

describe("deputy bot, running", () => {
  let slack: SlackFake;
  let otlp: OtlpReceiver;
  let apiProxy: DelayProxy;
  let child: ChildProcess | undefined;
  let stderr = "";
  let ports = { slack: 0, health: 0 };

  /**
   * The bot in HTTP mode with the MCP server in-process. It reaches the API
   * server through a proxy the SIGTERM test slows down, and its traces go to
   * an OTLP receiver in the test, batched for longer than the test runs, so
   * they arrive only when SIGTERM stops it.
   */
  beforeAll(async () => {
    const env = loadTestEnv();
    // A bot that reaches its executor over HTTP signs with a key it reads from OpenBao at start-up.
    const writeEnv = await prepareWriteEnv();
    await ensureKeysInOpenBao();
    const dir = await mkdtemp(join(tmpdir(), "deputy-bot-"));
    const jwtPath = join(dir, "token");
    await writeFile(
      jwtPath,
      await mintServiceAccountToken(EXECUTOR_NAMESPACE, "deputy-bot", { audience: "openbao" }),
      { mode: 0o600 },
    );
    apiProxy = await startDelayProxy(new URL(env.server), 0);
    const kubeconfig = join(dir, "kubeconfig");
    await writeFile(
      kubeconfig,
      (await readFile(env.kubeconfig, "utf8")).replaceAll(env.server, apiProxy.url),
    );
    otlp = await startOtlpReceiver();
    slack = await startSlackFake();
    child = spawn(process.execPath, [cli, "bot"], {
      env: {
        PATH: process.env.PATH ?? "",
        KUBECONFIG: kubeconfig,
        REDIS_URL: env.redisUrl,
        DEPUTY_REDIS_PREFIX: `deputy-test:cli-bot:${Date.now()}:`,
        SLACK_BOT_TOKEN: slack.botToken,
        SLACK_SIGNING_SECRET: slack.signingSecret,
        SLACK_SOCKET_MODE: "false",
        SLACK_API_URL: slack.apiUrl,
        SLACK_PORT: "0",
        DEPUTY_METRICS_PORT: "0",
        // Decisions are not exercised here; a remote executor keeps OpenBao out of this test.
        DEPUTY_EXECUTOR_URL: "http://127.0.0.1:9/",
        BAO_ADDR: env.baoAddr,
        DEPUTY_BAO_AUTH_MOUNT: writeEnv.authMount,
        DEPUTY_BAO_BOT_AUTH_ROLE: "deputy-bot",
        DEPUTY_BAO_JWT_PATH: jwtPath,
        DEPUTY_KEYS_FROM_OPENBAO: TEST_KEYS_PATH,
        LOG_LEVEL: "warn",
        ...otlpEnv(otlp, 60_000),
      },
    });
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    ports = await slack.waitFor(
      () => {
        // Up to the line's end: a port cut at a chunk boundary would otherwise match.
        const match = /listening on :(\d+)\/slack\/events; probes and metrics on :(\d+)\n/.exec(stderr);
        return match ? { slack: Number(match[1]), health: Number(match[2]) } : undefined;
      },
      { timeoutMs: 30_000, what: `deputy bot to start (stderr: ${stderr})` },
    );
    slack.setTarget(`http://127.0.0.1:${ports.slack}/slack/events`);
  }, 60_000);

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child!.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
    await slack?.close();
    await otlp?.close();
    await apiProxy?.close();
  });

  it("serves Slack in HTTP mode with the MCP server in-process, and answers probes and metrics", async () => {
    expect((await fetch(`http://127.0.0.1:${ports.health}/healthz`)).status).toBe(200);
    const ready = await fetch(`http://127.0.0.1:${ports.health}/readyz`);
    expect(ready.status, await ready.clone().text()).toBe(200);
    expect(await (await fetch(`http://127.0.0.1:${ports.health}/metrics`)).text()).toContain("deputy_");

    const sent = await slack.mention({
      user: "U0CLI",
      text: "troubleshoot shop/checkout",
      channel: "C0CLI",
    });
    expect(sent.status).toBe(200);
    const answer = await slack.waitFor(
      () =>
        slack
          .thread("C0CLI", sent.ts)
          .find((m) => m.user === slack.botUserId && m.text.includes("CrashLoopBackOff")),
      { timeoutMs: 30_000, what: "the diagnosis in the thread" },
    );
    expect(answer.text).toContain("checkout");
  }, 60_000);

  it("on SIGTERM finishes the answer it is working on, exports its spans and exits 0", async () => {
    // Runs last: it stops the bot. The API server now answers slowly, so the question below
    // is still being answered when SIGTERM comes.
    apiProxy.setDelay(500);
    const sent = await slack.mention({
      user: "U0CLI",
      text: "troubleshoot shop/checkout",
      channel: "C0CLI",
    });
    expect(sent.status).toBe(200);
    const answered = (): boolean =>
      slack
        .thread("C0CLI", sent.ts)
        .some((m) => m.user === slack.botUserId && m.text.includes("CrashLoopBackOff"));
    expect(answered()).toBe(false);

    const exited = new Promise<{ code: number | null; spansAtExit: number; answeredAtExit: boolean }>(
      (resolve) =>
        child!.once("exit", (code) =>
          resolve({ code, spansAtExit: otlp.spans.length, answeredAtExit: answered() }),
        ),
    );
    // Its last lines may be read from the pipe after the exit: stderr is complete at "close".
    const pipesClosed = new Promise((resolve) => child!.once("close", resolve));
    const signalled = Date.now();
    child!.kill("SIGTERM");
    const { code, spansAtExit, answeredAtExit } = await exited;
    expect(code, stderr).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(15_000);
    await pipesClosed;
    expect(stderr).toMatch(/deputy bot: stopped/);
    // The question asked before SIGTERM was answered in its thread before the process was gone.
    expect(answeredAtExit).toBe(true);

    // Every span arrived before the process was gone: the mention with its tool call and Kubernetes reads.
    expect(otlp.rejected).toEqual([]);
    expect(spansAtExit).toBe(otlp.spans.length);
    const mentions = otlp.spans.filter((span) => span.name === "slack app_mention");
    expect(mentions.length, JSON.stringify(otlp.spans, null, 1)).toBe(2);
    const last = mentions.at(-1)!;
    expect(last.service).toBe("deputy-bot");
    const { spans, parentOf } = traceOf(otlp.spans, last.traceId);
    const under = (span: ExportedSpan, ancestor: ExportedSpan): boolean => {
      for (let parent = parentOf(span); parent; parent = parentOf(parent))
        if (parent === ancestor) return true;
      return false;
    };
    const tool = spans.find((span) => span.name.startsWith("tool ") && under(span, last));
    expect(tool, JSON.stringify(spans, null, 1)).toBeDefined();
    expect(spans.some((span) => span.name === "kube GET" && under(span, tool!))).toBe(true);
  }, 30_000);
});
