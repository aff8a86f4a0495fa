import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";
import { envSchema, type ConfigReader } from "../core/config/config.ts";
import { DeputyError } from "../core/errors.ts";

/**
 * docs/configuration.md, written from core/config/config.ts: each setting's type,
 * default and range come from its zod schema (what parsing an unset value
 * gives, the input's JSON Schema), its description, readers and unset
 * behaviour from the `.meta()` beside it, its group from the comment heading
 * above it. Nothing here names a setting, so a new one needs no code.
 */

export const CONFIG_SOURCE = resolve(import.meta.dirname, "..", "core", "config", "config.ts");
export const CONFIG_REFERENCE_FILE = resolve(import.meta.dirname, "..", "docs", "configuration.md");

/** Who a `readBy` entry stands for. */
export const CONFIG_READERS: Record<ConfigReader, string> = {
  bot: "`deputy bot`, the Slack app",
  mcp: "`deputy mcp`, the Kubernetes MCP server",
  executor: "`deputy executor`, the approval executor",
  watcher:
    "the proactive triage watcher, inside `deputy mcp --http` with `DEPUTY_WATCH=true`, or inside a bot without `DEPUTY_MCP_URL`",
  cli: "the `deputy` command itself: local mode (`deputy start`), `deputy doctor`, `deputy executor setup-openbao`, `deputy audit`",
};

/** Variables Deputy reads that are not its configuration: standard ones, or set-up only. */
export const OUTSIDE_THE_SCHEMA: readonly {
  names: readonly string[];
  readBy: ConfigReader[];
  text: string;
}[] = [
  {
    names: ["BAO_TOKEN"],
    readBy: ["cli"],
    text: "An OpenBao admin token, for `deputy executor setup-openbao` and local mode only; no component reads it at run time.",
  },
  {
    names: ["OTEL_TRACES_EXPORTER"],
    readBy: ["bot", "mcp", "executor", "cli"],
    text: "`otlp` turns traces on, `none` keeps them off; unset: on only when an endpoint below is set. Any other exporter is refused at start-up.",
  },
  {
    names: ["OTEL_EXPORTER_OTLP_ENDPOINT"],
    readBy: ["bot", "mcp", "executor", "cli"],
    text: "The collector's base URL (`/v1/traces` is appended), e.g. `http://otel-collector.observability:4318`.",
  },
  {
    names: ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"],
    readBy: ["bot", "mcp", "executor", "cli"],
    text: "The full traces URL, instead of the one above.",
  },
  {
    names: ["OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"],
    readBy: ["bot", "mcp", "executor", "cli"],
    text: "Unset or `http/json`: Deputy exports OTLP over HTTP as JSON; anything else is refused at start-up.",
  },
  {
    names: ["OTEL_SERVICE_NAME"],
    readBy: ["bot", "mcp", "executor", "cli"],
    text: "Default `deputy-bot`, `deputy-mcp`, `deputy-executor`, or `deputy` for local mode.",
  },
  {
    names: ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TIMEOUT"],
    readBy: ["bot", "mcp", "executor", "cli"],
    text: "As the OpenTelemetry SDK documents them (e.g. a collector's auth header).",
  },
  {
    names: [
      "OTEL_TRACES_SAMPLER",
      "OTEL_TRACES_SAMPLER_ARG",
      "OTEL_BSP_SCHEDULE_DELAY",
      "OTEL_BSP_EXPORT_TIMEOUT",
      "OTEL_BSP_MAX_QUEUE_SIZE",
      "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    ],
    readBy: ["bot", "mcp", "executor", "cli"],
    text: "Sampling and batching, as the SDK documents them (spans are batched and sent every 5 s by default).",
  },
  {
    names: ["OTEL_SDK_DISABLED"],
    readBy: ["bot", "mcp", "executor", "cli"],
    text: "`true` keeps traces off whatever else is set.",
  },
];

/** Every variable name outside the schema that Deputy reads (.env.example may name these too). */
export const OUTSIDE_THE_SCHEMA_NAMES: ReadonlySet<string> = new Set(
  OUTSIDE_THE_SCHEMA.flatMap((entry) => entry.names),
);

export interface SettingReference {
  name: string;
  group: string;
  type: string;
  /** What an unset setting parses to, in Markdown; "unset" when it stays undefined. */
  defaultValue: string;
  /** Allowed values or range, in Markdown; empty when any value of the type is accepted. */
  allowed: string;
  readBy: readonly ConfigReader[];
  description: string;
  unset: string;
}

const READERS = Object.keys(CONFIG_READERS) as ConfigReader[];

/**
 * The group of each setting, in schema order: a `// comment` line after a
 * blank line inside `envSchema` starts a group; settings before the first
 * one are "General".
 */
export function schemaGroups(source: string): Map<string, string> {
  const start = source.indexOf("export const envSchema = z.object({");
  if (start < 0)
    throw new DeputyError("CONFIG_INVALID", "core/config/config.ts has no `export const envSchema`");
  const lines = source.slice(start).split("\n").slice(1);
  const groups = new Map<string, string>();
  let group = "General";
  let previousBlank = true;
  for (const line of lines) {
    if (/^\}\);/.test(line)) break;
    const heading = /^ {2}\/\/ (.+)$/.exec(line);
    if (heading && previousBlank) group = heading[1]!.trim();
    const key = /^ {2}([A-Z][A-Z0-9_]*):/.exec(line);
    if (key) groups.set(key[1]!, group);
    previousBlank = line.trim() === "";
  }
  return groups;
}

const code = (value: string): string => (value.includes("`") ? `\`\` ${value} \`\`` : `\`${value}\``);

function shownValue(value: unknown): string {
  if (value === undefined) return "unset";
  if (Array.isArray(value)) return value.length === 0 ? "empty" : code(value.join(","));
  return code(String(value));
}

/** Type, default and allowed values of one setting, read from its schema alone. */
function describeSchema(schema: z.ZodType): Pick<SettingReference, "type" | "defaultValue" | "allowed"> {
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as {
    type?: string;
    enum?: string[];
    format?: string;
    pattern?: string;
    minimum?: number;
    maximum?: number;
    minLength?: number;
  };
  const unset = schema.safeParse(undefined);
  const whenUnset = unset.success ? unset.data : undefined;
  const sample = schema.safeParse("a,b");
  const defaultValue = shownValue(whenUnset);
  if (sample.success && Array.isArray(sample.data)) {
    return { type: "list", defaultValue, allowed: "comma-separated" };
  }
  if (typeof whenUnset === "boolean") {
    return { type: "boolean", defaultValue, allowed: (json.enum ?? []).map(code).join(", ") };
  }
  if (json.type === "integer" || json.type === "number") {
    const range =
      json.minimum !== undefined && json.maximum !== undefined
        ? `${json.minimum}–${json.maximum}`
        : json.minimum !== undefined
          ? `≥ ${json.minimum}`
          : json.maximum !== undefined
            ? `≤ ${json.maximum}`
            : "";
    return { type: json.type, defaultValue, allowed: range };
  }
  if (json.enum) return { type: "one of", defaultValue, allowed: json.enum.map(code).join(", ") };
  if (json.format === "uri") return { type: "URL", defaultValue, allowed: "" };
  const allowed = [
    json.pattern ? `matches ${code(json.pattern)}` : "",
    json.minLength !== undefined && json.minLength > 1 ? `at least ${json.minLength} characters` : "",
    json.minLength === 1 ? "not empty" : "",
  ].filter((part) => part.length > 0);
  return { type: "string", defaultValue, allowed: allowed.join(", ") };
}

/**
 * Every setting of `shape`, in order, with what its schema and `.meta()` say.
 * A setting without a description, readers or unset sentence, or one outside
 * any group, is an error naming it.
 */
export function describeSettings(
  shape: Record<string, z.ZodType>,
  groups: ReadonlyMap<string, string>,
): SettingReference[] {
  const problems: string[] = [];
  const settings: SettingReference[] = [];
  for (const [name, schema] of Object.entries(shape)) {
    const meta = z.globalRegistry.get(schema) ?? {};
    const missing = (["description", "readBy", "unset"] as const).filter((field) => {
      const value = meta[field];
      return Array.isArray(value) ? value.length === 0 : typeof value !== "string" || value.trim() === "";
    });
    if (missing.length > 0) {
      problems.push(`${name} has no ${missing.join(", ")} in its .meta({ description, readBy, unset })`);
      continue;
    }
    const readBy = meta.readBy ?? [];
    const unknown = readBy.filter((reader) => !READERS.includes(reader));
    if (unknown.length > 0) {
      problems.push(`${name}: readBy names ${unknown.join(", ")}; readers are ${READERS.join(", ")}`);
      continue;
    }
    const group = groups.get(name);
    if (!group) {
      problems.push(`${name} is not under a comment heading of envSchema in core/config/config.ts`);
      continue;
    }
    settings.push({
      name,
      group,
      ...describeSchema(schema),
      readBy: READERS.filter((reader) => readBy.includes(reader)),
      description: meta.description!.trim(),
      unset: meta.unset!.trim(),
    });
  }
  if (problems.length > 0) {
    throw new DeputyError("CONFIG_INVALID", `Configuration reference: ${problems.join("; ")}`);
  }
  return settings;
}

/** A Markdown table padded the way prettier pads one, so the file is stable under `prettier --check`. */
function table(header: string[], cells: string[][]): string[] {
  const rows = cells.map((row) => row.map((cell) => cell.replace(/\|/g, "\\|")));
  const width = (text: string): number => [...text].length;
  const widths = header.map((cell, column) =>
    Math.max(3, width(cell), ...rows.map((row) => width(row[column]!))),
  );
  const line = (cells: string[]): string =>
    `| ${cells.map((cell, column) => cell + " ".repeat(widths[column]! - width(cell))).join(" | ")} |`;
  return [line(header), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`, ...rows.map(line)];
}

/** GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces as hyphens. */
export function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, "")
    .replace(/ /g, "-");
}

export function renderConfigReference(settings: readonly SettingReference[]): string {
  const groups = [...new Set(settings.map((setting) => setting.group))];
  const out: string[] = [
    "# Configuration reference",
    "",
    "<!-- Written by `npm run config:reference` (`deputy config reference --write`) from core/config/config.ts; do not edit by hand. -->",
    "",
    "Deputy reads its whole configuration from the environment once, at start-up, and refuses to start",
    "with a sentence naming every setting it cannot parse. In a cluster, non-secret settings live in the",
    "`deputy-config` ConfigMaps (`deputy-agent` for the bot, `deputy-system` for the MCP server and the",
    "executor) and secrets in OpenBao; locally, set them in the environment ([`.env.example`](../.env.example)",
    "lists every setting with its default). How to set up a deployment is in the [operator's guide](operator-guide.md).",
    "",
    `${settings.length} settings, in ${groups.length} groups. _Read by_ names the components whose process reads the setting:`,
    "",
    ...READERS.map((reader) => `- **${reader}**: ${CONFIG_READERS[reader]}.`),
    "",
    "Local mode (`deputy start`) runs every component in one process, so it reads all of them. _Default_",
    "is what an unset setting means (_unset_: nothing; _empty_: an empty list). A setting read by several",
    "components must have the same value in each.",
    "",
  ];
  for (const group of groups) {
    const inGroup = settings.filter((setting) => setting.group === group);
    out.push(`## ${group}`, "");
    out.push(
      ...table(
        ["Setting", "Type", "Default", "Read by"],
        inGroup.map((setting) => [
          `[${setting.name}](#${anchorOf(setting.name)})`,
          setting.type,
          setting.defaultValue,
          setting.readBy.join(", "),
        ]),
      ),
      "",
    );
    for (const setting of inGroup) {
      out.push(`### ${setting.name}`, "", setting.description, "");
      out.push(`- Type: ${setting.type}${setting.allowed ? ` (${setting.allowed})` : ""}`);
      out.push(`- Default: ${setting.defaultValue}`);
      out.push(`- Read by: ${setting.readBy.join(", ")}`);
      out.push(`- When unset: ${setting.unset}`, "");
    }
  }
  out.push(
    "## Outside the schema",
    "",
    "Deputy also reads these, which are not part of its configuration: the standard OpenTelemetry",
    "variables (traces are off unless they are set; see the [operator's guide](operator-guide.md#traces))",
    "and one set-up credential.",
    "",
    ...table(
      ["Variable", "Read by", "Meaning"],
      OUTSIDE_THE_SCHEMA.map((entry) => [
        entry.names.map(code).join(", "),
        entry.readBy.join(", "),
        entry.text,
      ]),
    ),
    "",
  );
  return out.join("\n");
}

/** docs/configuration.md as core/config/config.ts says it should read. */
export function configReference(): string {
  const groups = schemaGroups(readFileSync(CONFIG_SOURCE, "utf8"));
  return renderConfigReference(describeSettings(envSchema.shape, groups));
}
