import { defineConfig } from "vitest/config";

// Integration tests talk to a real kube-apiserver, Vault dev server and Redis
// (test/setup/global-setup.ts starts them). Two cores: at most two test files
// at once, in forked processes, with timeouts sized for a real control plane.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "{bin,cli,core,mcp,executor,bot,console,prompts,bench}/**/*.test.ts"],
    exclude: ["node_modules/**", ".testenv/**"],
    globalSetup: ["test/setup/global-setup.ts"],
    // Every file must keep its Redis keys under its own prefix (see the guard).
    setupFiles: ["test/setup/redis-prefix-guard.ts"],
    pool: "forks",
    maxWorkers: 2,
    fileParallelism: true,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
  },
});
