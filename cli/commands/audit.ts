import { readFile } from "node:fs/promises";
import { readAuditAnchors, type AuditAnchor } from "../../core/audit/anchor.ts";
import { parseConfig } from "../../core/config/config.ts";
import { createLogger } from "../../core/observability/logger.ts";
import { connectRedisForCommand } from "../redis.ts";
import { DeputyError } from "../../core/errors.ts";
import { actionStory } from "../../core/audit/story.ts";
import { parseAuditRecords, verifyAuditChain } from "../../core/audit/verify.ts";

const USAGE = `Usage:
  deputy audit verify <file> [--anchors] [--ignore-other-lines] [--partial]
      Check the hash chains (one per writer); exit 0 when intact, 1 naming the
      first break. --anchors also requires each chain to reach the head kept
      in Redis (as the executor reaches it), catching records deleted from the end; --partial
      accepts chains whose first records are not in the file (an export);
      --ignore-other-lines skips non-audit JSON lines.
  deputy audit show <action-id> [--file <file>]
      Print the story of one action (default file: DEPUTY_AUDIT_FILE, else stdin).
`;

async function readLines(file: string | undefined): Promise<string[]> {
  if (file === undefined || file === "-") {
    if (process.stdin.isTTY) {
      throw new DeputyError(
        "INPUT_INVALID",
        "no audit file given (use --file or DEPUTY_AUDIT_FILE, or pipe one in)",
      );
    }
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8").split("\n");
  }
  try {
    return (await readFile(file, "utf8")).split("\n");
  } catch (error) {
    throw new DeputyError("INPUT_INVALID", `cannot read audit file ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function takeOption(args: string[], name: string): string | undefined {
  const index = args.indexOf(name);
  if (index < 0) return undefined;
  const value = args[index + 1];
  if (value === undefined || value.startsWith("--")) {
    throw new DeputyError("INPUT_INVALID", `${name} needs a value`);
  }
  args.splice(index, 2);
  return value;
}

function takeFlag(args: string[], name: string): boolean {
  const index = args.indexOf(name);
  if (index < 0) return false;
  args.splice(index, 1);
  return true;
}

function rejectExtra(args: string[]): void {
  const unknown = args.find((arg) => arg.startsWith("-") && arg !== "-");
  if (unknown) throw new DeputyError("INPUT_INVALID", `unknown option ${unknown}\n\n${USAGE}`);
}

async function anchorsFromRedis(): Promise<Record<string, AuditAnchor>> {
  const config = parseConfig();
  const logger = createLogger({ level: "warn", name: "deputy-audit" });
  const redis = await connectRedisForCommand(config, "the audit anchors", logger);
  try {
    return await readAuditAnchors(redis, config.redis.prefix);
  } catch (error) {
    throw new DeputyError(
      "UPSTREAM_FAILED",
      `cannot read audit anchors from Redis: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  } finally {
    redis.disconnect();
  }
}

async function verify(args: string[]): Promise<number> {
  const ignoreOtherLines = takeFlag(args, "--ignore-other-lines");
  const partial = takeFlag(args, "--partial");
  const useAnchors = takeFlag(args, "--anchors");
  rejectExtra(args);
  const [file, ...extra] = args;
  if (file === undefined || extra.length > 0) {
    process.stderr.write(USAGE);
    return 2;
  }
  const lines = await readLines(file);
  const anchors = useAnchors ? await anchorsFromRedis() : undefined;
  const result = verifyAuditChain(lines, { ignoreOtherLines, partial, anchors });
  if (result.ok) {
    const head =
      result.lastSeq === undefined ? "empty" : `last seq ${result.lastSeq}, head ${result.lastHash}`;
    const chains = result.chains === 1 ? "1 chain" : `${result.chains} chains`;
    process.stdout.write(`ok: ${result.records} records verified in ${chains} (${head})\n`);
    return 0;
  }
  process.stdout.write(
    `broken at line ${result.break.line} (${result.break.reason}): ${result.break.message}\n` +
      `${result.records} records verified before the break\n`,
  );
  return 1;
}

async function show(args: string[]): Promise<number> {
  const file = takeOption(args, "--file") ?? parseConfig().observability.auditFile;
  rejectExtra(args);
  const [actionId, ...extra] = args;
  if (actionId === undefined || extra.length > 0) {
    process.stderr.write(USAGE);
    return 2;
  }
  const story = actionStory(parseAuditRecords(await readLines(file)), actionId);
  process.stdout.write(story.text);
  return 0;
}

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case "verify":
      return verify(rest);
    case "show":
      return show(rest);
    case undefined:
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      return sub === undefined ? 2 : 0;
    default:
      process.stderr.write(`deputy audit: unknown subcommand "${sub}"\n\n${USAGE}`);
      return 2;
  }
}
