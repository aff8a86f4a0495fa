import { ensureTestRedis } from "./testenv.ts";

/**
 * Runs before the test suite (package.json "test"): fails fast when the
 * tests would run on the wrong Node, and makes sure Redis answers. The
 * control plane itself is started by vitest's global setup.
 */
const REQUIRED_MAJOR = 24;

async function main(): Promise<number> {
  const major = Number.parseInt(process.versions.node.split(".")[0] ?? "0", 10);
  if (major < REQUIRED_MAJOR) {
    process.stderr.write(
      `preflight: Node ${process.versions.node} is running, but Deputy needs Node >= ${REQUIRED_MAJOR}. ` +
        'Run tests through npm ("npm test"), which uses the project\'s own Node from node_modules/.bin.\n',
    );
    return 1;
  }
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
