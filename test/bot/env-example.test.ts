import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { OUTSIDE_THE_SCHEMA_NAMES } from "../../cli/config-reference.ts";
import { CONFIG_ENV_KEYS, parseConfig } from "../../core/config/config.ts";

const file = readFileSync(join(import.meta.dirname, "../../.env.example"), "utf8");
const named = [...file.matchAll(/^(?:# )?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]!);

describe(".env.example", () => {
  it("documents every variable core/config/config.ts reads", () => {
    const documented = new Set(named);
    const missing = CONFIG_ENV_KEYS.filter((key) => !documented.has(key));
    expect(missing, `add these to .env.example: ${missing.join(", ")}`).toEqual([]);
  });

  it("names no variable Deputy does not read (a misspelt name would be silently ignored)", () => {
    const known = new Set([...CONFIG_ENV_KEYS, ...OUTSIDE_THE_SCHEMA_NAMES]);
    const unknown = named.filter((name) => !known.has(name));
    expect(
      unknown,
      `not in core/config/config.ts (or cli/config-reference.ts): ${unknown.join(", ")}`,
    ).toEqual([]);
  });

  it("names each variable once", () => {
    const twice = named.filter((name, index) => named.indexOf(name) !== index);
    expect(twice).toEqual([]);
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
