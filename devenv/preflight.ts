import { preflightProblems } from "./preflight-checks.ts";
import { ensureTestRedis } from "./testenv.ts";

/**
 * Runs before the test suite (package.json "test"): checks everything the
 * first run needs (Node, Go when binaries must be built, openssl, Redis,
 * disk), says in one sentence each what is missing and how to fix it, and
 * makes sure Redis answers. The control plane itself is started by vitest's
 * global setup.
 */
async function main(): Promise<number> {
  const problems = await preflightProblems();
  for (const problem of problems) process.stderr.write(`preflight: ${problem}\n`);
  if (problems.length > 0) return 1;
  await ensureTestRedis({ progress: (line) => process.stderr.write(`preflight: ${line}\n`) });
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`preflight: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
