import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { COMMAND } from "../../bot/listeners/commands/deputy.ts";
import { ASK_ABOUT_MESSAGE_CALLBACK_ID } from "../../bot/listeners/shortcuts/ask-about-message.ts";

interface Manifest {
  features: {
    slash_commands: { command: string }[];
    bot_user: { display_name: string };
    app_home: { home_tab_enabled: boolean };
    shortcuts: { type: string; callback_id: string }[];
  };
  oauth_config: { scopes: { bot: string[] } };
  settings: {
    event_subscriptions: { bot_events: string[] };
    interactivity: { is_enabled: boolean };
    socket_mode_enabled: boolean;
  };
}

const manifest = parse(
  readFileSync(join(import.meta.dirname, "../../bot/slack-app-manifest.yaml"), "utf8"),
) as Manifest;
const sources = [
  "bot/handlers/question.ts",
  "bot/handlers/decision.ts",
  "bot/handlers/direct-command.ts",
  "bot/status-message.ts",
  "bot/approvers.ts",
  "bot/channel-members.ts",
  "bot/listeners/commands/deputy.ts",
  "bot/handlers/log-file.ts",
  "bot/handlers/show-pending.ts",
  "bot/handlers/pending.ts",
]
  .map((file) => readFileSync(join(import.meta.dirname, "../..", file), "utf8"))
  .join("\n");

// Web API methods the code calls, and the scope each needs.
const SCOPE_OF: Record<string, string> = {
  "chat.postMessage": "chat:write",
  "chat.update": "chat:write",
  "chat.postEphemeral": "chat:write",
  "usergroups.users.list": "usergroups:read",
  filesUploadV2: "files:write",
  "conversations.members": "channels:read",
};

describe("Slack app manifest", () => {
  it("declares the slash command, events, interactivity and Socket Mode the app uses", () => {
    expect(manifest.features.slash_commands.map((c) => c.command)).toEqual([COMMAND]);
    expect(manifest.settings.event_subscriptions.bot_events).toEqual(
      expect.arrayContaining(["app_mention", "message.im", "message.channels", "message.groups"]),
    );
    expect(manifest.settings.interactivity.is_enabled).toBe(true);
    expect(manifest.settings.socket_mode_enabled).toBe(true);
  });

  it("enables the Home tab and its event, and declares the message shortcut the code listens for", () => {
    expect(manifest.features.app_home.home_tab_enabled).toBe(true);
    expect(manifest.settings.event_subscriptions.bot_events).toContain("app_home_opened");
    expect(manifest.features.shortcuts).toEqual([
      expect.objectContaining({ type: "message", callback_id: ASK_ABOUT_MESSAGE_CALLBACK_ID }),
    ]);
  });

  it("grants a scope for every Web API method the code calls, and only what it needs", () => {
    const compact = sources.replace(/\s+/g, "");
    const called = Object.keys(SCOPE_OF).filter((method) => compact.includes(`.${method}(`));
    expect(called).toEqual(Object.keys(SCOPE_OF));
    const scopes = manifest.oauth_config.scopes.bot;
    for (const method of Object.keys(SCOPE_OF)) expect(scopes, method).toContain(SCOPE_OF[method]);
    expect(scopes).toContain("app_mentions:read");
    expect(scopes).toContain("commands");
    expect(scopes).toContain("im:history");
    // conversations.members on a private channel needs groups:read too.
    expect(scopes).toContain("groups:read");
    // Nothing that could read or change more than Deputy needs.
    expect(
      scopes.filter(
        (scope) => /admin|:write$/.test(scope) && !["chat:write", "im:write", "files:write"].includes(scope),
      ),
    ).toEqual([]);
  });
});
