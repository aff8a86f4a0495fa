import { KubeConfig } from "@kubernetes/client-node";
import { seedCluster } from "../../devenv/seed.ts";
import { upTestEnv } from "../../devenv/testenv.ts";
import { ensureChromium } from "../console/chromium.ts";

/**
 * vitest global setup: bring the local test environment up (reusing a
 * running healthy one, building binaries on the very first run) and seed
 * the troubled `shop` namespace, and make sure the browser for the console
 * tests is installed. The environment is left running afterwards so the next
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
  // The console's browser tests drive Debian's chromium; a fresh machine gets it once (apt-get).
  ensureChromium(say);
}
