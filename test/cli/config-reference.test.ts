import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  CONFIG_REFERENCE_FILE,
  CONFIG_SOURCE,
  configReference,
  describeSettings,
  schemaGroups,
  type SettingReference,
} from "../../cli/config-reference.ts";
import { run } from "../../cli/commands/config.ts";
import { CONFIG_ENV_KEYS, envSchema } from "../../core/config/config.ts";

const settings = describeSettings(envSchema.shape, schemaGroups(readFileSync(CONFIG_SOURCE, "utf8")));
const setting = (name: string): SettingReference => settings.find((s) => s.name === name)!;

describe("the configuration reference", () => {
  it("is docs/configuration.md exactly as core/config/config.ts describes it", () => {
    const stored = readFileSync(CONFIG_REFERENCE_FILE, "utf8");
    // On a difference: npm run config:reference, and commit docs/configuration.md.
    expect(stored, "docs/configuration.md is stale: run npm run config:reference").toBe(configReference());
  });

  it("documents every setting of the schema with a description, its readers and what unset means", () => {
    expect(settings.map((s) => s.name)).toEqual([...CONFIG_ENV_KEYS]);
    for (const s of settings) {
      expect(s.description, s.name).toMatch(/[.)]$/);
      expect(s.unset, s.name).toMatch(/[.)]$/);
      expect(s.readBy.length, s.name).toBeGreaterThan(0);
    }
    const reference = configReference();
    for (const name of CONFIG_ENV_KEYS) expect(reference).toContain(`### ${name}\n`);
  });

  it("takes type, default and range from the schema itself", () => {
    expect(setting("DEPUTY_KUBE_TIMEOUT_SECONDS")).toMatchObject({
      type: "integer",
      defaultValue: "`10`",
      allowed: "1–50",
    });
    expect(setting("DEPUTY_TWO_PERSON_RULE")).toMatchObject({ type: "boolean", defaultValue: "`true`" });
    expect(setting("DEPUTY_ALLOW_DIRECT_MESSAGES")).toMatchObject({
      type: "boolean",
      defaultValue: "`false`",
    });
    expect(setting("DEPUTY_TWO_PERSON_RULE").allowed).toContain("`yes`");
    expect(setting("DEPUTY_APPROVERS")).toMatchObject({ type: "list", defaultValue: "empty" });
    expect(setting("BAO_ADDR")).toMatchObject({ type: "URL", defaultValue: "`http://127.0.0.1:8200`" });
    expect(setting("DEPUTY_MCP_URL")).toMatchObject({ type: "URL", defaultValue: "unset" });
    expect(setting("LOG_LEVEL")).toMatchObject({ type: "one of", defaultValue: "`info`" });
    expect(setting("LOG_LEVEL").allowed).toContain("`silent`");
    expect(setting("DEPUTY_ALERTS_TOKEN").allowed).toBe("at least 32 characters");
    expect(setting("DEPUTY_PREVIEW_PROBE_NAMESPACE").allowed).toMatch(/^matches `\^\[a-z0-9\]/);
    expect(setting("DEPUTY_CLUSTER_NAME")).toMatchObject({
      group: "Kubernetes (reads use this identity; writes never do)",
    });
    expect(setting("LOG_LEVEL").group).toBe("General");
  });

  it("refuses a setting without its description, readers or unset sentence, naming it", () => {
    const groups = new Map([
      ["A", "G"],
      ["B", "G"],
      ["C", "G"],
    ]);
    expect(() => describeSettings({ A: z.string().optional() }, groups)).toThrow(
      /A has no description, readBy, unset/,
    );
    expect(() =>
      describeSettings(
        { B: z.string().optional().meta({ description: "Something.", readBy: [], unset: "Nothing." }) },
        groups,
      ),
    ).toThrow(/B has no readBy/);
    const wrongReader = { description: "Something.", readBy: ["kubelet"], unset: "Nothing." } as never;
    expect(() => describeSettings({ C: z.string().optional().meta(wrongReader) }, groups)).toThrow(
      /C: readBy names kubelet/,
    );
    const meta = { description: "Something.", readBy: ["bot"] as const, unset: "Nothing." };
    expect(() => describeSettings({ D: z.string().optional().meta(meta) }, groups)).toThrow(
      /D is not under a comment heading/,
    );
  });

  it("groups settings by the comment headings of envSchema, not by the comments on one setting", () => {
    const source = [
      "export const envSchema = z.object({",
      '  LOG_LEVEL: z.string().meta({ description: "x" }),',
      "",
      "  // Redis",
      "  // a second line of the heading's comment",
      "  REDIS_URL: z.string(),",
      "  // what this one setting is for",
      "  DEPUTY_REDIS_PREFIX: z.string(),",
      "",
      "  // OpenBao",
      "  BAO_ADDR: z",
      "    .url()",
      "});",
      "  NOT_IN_THE_SCHEMA: z.string(),",
    ].join("\n");
    expect([...schemaGroups(source)]).toEqual([
      ["LOG_LEVEL", "General"],
      ["REDIS_URL", "Redis"],
      ["DEPUTY_REDIS_PREFIX", "Redis"],
      ["BAO_ADDR", "OpenBao"],
    ]);
  });

  it("is checked by `deputy config reference --check`, which refuses other arguments with its usage", async () => {
    expect(await run(["reference", "--check"])).toBe(0);
    await expect(run(["reference", "--out"])).rejects.toThrow(
      /unknown arguments "reference --out"[\s\S]*--write/,
    );
  });
});
