import { readFile, writeFile } from "node:fs/promises";
import { relative } from "node:path";
import { CONFIG_REFERENCE_FILE, configReference } from "../config-reference.ts";
import { DeputyError } from "../../core/errors.ts";

const USAGE = `Usage:
  deputy config reference [--write | --check]
      Print the configuration reference that core/config/config.ts describes
      (every setting's type, default, range, readers and unset behaviour).
      --write stores it in docs/configuration.md; --check exits 1 when that
      file differs from it.
`;

export async function run(args: string[]): Promise<number> {
  const [what, ...rest] = args;
  if (what !== "reference" || rest.length > 1 || (rest[0] && !["--write", "--check"].includes(rest[0]))) {
    if (what === undefined || what === "--help" || what === "-h") {
      process.stdout.write(USAGE);
      return what ? 0 : 2;
    }
    throw new DeputyError("INPUT_INVALID", `unknown arguments "${args.join(" ")}"\n\n${USAGE}`);
  }
  const text = configReference();
  const file = relative(process.cwd(), CONFIG_REFERENCE_FILE);
  if (rest[0] === "--write") {
    await writeFile(CONFIG_REFERENCE_FILE, text);
    process.stdout.write(`wrote ${file}\n`);
    return 0;
  }
  if (rest[0] === "--check") {
    const stored = await readFile(CONFIG_REFERENCE_FILE, "utf8").catch(() => "");
    if (stored === text) return 0;
    process.stderr.write(`${file} differs from core/config/config.ts: run npm run config:reference\n`);
    return 1;
  }
  process.stdout.write(text);
  return 0;
}
