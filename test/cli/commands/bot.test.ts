import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

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
  it("serves Slack in HTTP mode with the MCP server in-process, and answers probes and metrics", async () => {
    const { spawn } = await import("node:child_process");
    const { startSlackFake } = await import("../../fakes/slack.ts");
    const { loadTestEnv } = await import("../../helpers/testenv.ts");
    const env = loadTestEnv();
    // A bot that reaches its executor over HTTP signs with a key it reads from OpenBao at start-up.
    const { mkdtemp, writeFile } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { ensureKeysInOpenBao, TEST_KEYS_PATH } = await import("../../helpers/deputy-keys.ts");
    const { mintServiceAccountToken } = await import("../../helpers/testenv.ts");
    const { EXECUTOR_NAMESPACE, prepareWriteEnv } = await import("../../executor/write-env.ts");
    const writeEnv = await prepareWriteEnv();
    await ensureKeysInOpenBao();
    const jwtPath = join(await mkdtemp(join(tmpdir(), "deputy-bot-")), "token");
    await writeFile(
      jwtPath,
      await mintServiceAccountToken(EXECUTOR_NAMESPACE, "deputy-bot", { audience: "openbao" }),
      { mode: 0o600 },
    );
    const slack = await startSlackFake();
    const child = spawn(process.execPath, [cli, "bot"], {
      env: {
        PATH: process.env.PATH ?? "",
        KUBECONFIG: env.kubeconfig,
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
      },
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      const ports = await slack.waitFor(
        () => {
          // Up to the line's end: a port cut at a chunk boundary would otherwise match.
          const match = /listening on :(\d+)\/slack\/events; probes and metrics on :(\d+)\n/.exec(stderr);
          return match ? { slack: Number(match[1]), health: Number(match[2]) } : undefined;
        },
        { timeoutMs: 30_000, what: `deputy bot to start (stderr: ${stderr})` },
      );
      expect((await fetch(`http://127.0.0.1:${ports.health}/healthz`)).status).toBe(200);
      const ready = await fetch(`http://127.0.0.1:${ports.health}/readyz`);
      expect(ready.status, await ready.clone().text()).toBe(200);
      expect(await (await fetch(`http://127.0.0.1:${ports.health}/metrics`)).text()).toContain("deputy_");

      slack.setTarget(`http://127.0.0.1:${ports.slack}/slack/events`);
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
    } finally {
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
      await slack.close();
    }
  }, 90_000);
});
