import { KubeConfig } from "@kubernetes/client-node";
import { seedCluster } from "../env/seed.ts";
import { upTestEnv } from "../env/testenv.ts";

/**
 * vitest global setup: bring the local test environment up (reusing a
 * running healthy one, building binaries on the very first run) and seed
 * the troubled `shop` namespace. It is left running afterwards so the next
 * run starts in seconds; `npm run testenv:down` stops it.
 */
export async function setup(): Promise<void> {
  const say = (line: string): void => {
    process.stderr.write(`testenv: ${line}\n`);
  };
  const state = await upTestEnv({ progress: say });
  const kc = new KubeConfig();
  kc.loadFromFile(state.kubeconfig);
  await seedCluster(kc, { progress: say });
}
