import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CONFIG_ENV_KEYS, parseConfig } from "../../core/config/config.ts";

const file = readFileSync(join(import.meta.dirname, "../../.env.example"), "utf8");

describe(".env.example", () => {
  it("documents every variable core/config/config.ts reads", () => {
    const documented = new Set([...file.matchAll(/^(?:# )?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]));
    const missing = CONFIG_ENV_KEYS.filter((key) => !documented.has(key));
    expect(missing, `add these to .env.example: ${missing.join(", ")}`).toEqual([]);
  });

  it("is a valid configuration as written", () => {
    const env = Object.fromEntries(
      [...file.matchAll(/^([A-Z][A-Z0-9_]+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]),
    );
    const config = parseConfig(env);
    expect(config.slack.socketMode).toBe(true);
    expect(config.anthropic.model).toBe(env.DEPUTY_MODEL);
  });
});
