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

  it("names the missing secret and starts nothing", async () => {
    const none = await deputyBot({});
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("deputy: CONFIG_INVALID: SLACK_BOT_TOKEN is required to run the Slack app");
    const socket = await deputyBot({ SLACK_BOT_TOKEN: "xoxb-test" });
    expect(socket.stderr).toContain("SLACK_APP_TOKEN is required in Socket Mode");
    const http = await deputyBot({ SLACK_BOT_TOKEN: "xoxb-test", SLACK_SOCKET_MODE: "false" });
    expect(http.stderr).toContain("SLACK_SIGNING_SECRET is required in HTTP mode");
    const bad = await deputyBot({ SLACK_BOT_TOKEN: "xoxb-test", SLACK_SOCKET_MODE: "maybe" });
    expect(bad.stderr).toContain("SLACK_SOCKET_MODE");
  });
});
