import { KubeConfig } from "@kubernetes/client-node";
import { DeputyError } from "../../core/errors.ts";
import { seedCluster } from "../../devenv/seed.ts";
import { downTestEnv, requireTestEnvState, testEnvStatus, upTestEnv } from "../../devenv/testenv.ts";

/**
 * `deputy testenv up|down|seed|status`: the local control plane, Vault dev
 * server (OpenBao's API) and Redis that tests and local mode run against.
 */
const USAGE = `Usage: deputy testenv <up|down|seed|status>

  up      build (first run only) and start etcd, kube-apiserver, kube-controller-manager,
          the fake kubelet, a Vault dev server (OpenBao API) and Redis; reuses a healthy one
  down    stop exactly the processes "up" started
  seed    create (or restore) the troubled "shop" namespace and wait until it is visible
  status  show what is running
`;

function say(line: string): void {
  process.stderr.write(`testenv: ${line}\n`);
}

export async function run(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  if (rest.length > 0) {
    process.stderr.write(`deputy testenv: unexpected arguments: ${rest.join(" ")}\n\n${USAGE}`);
    return 2;
  }
  switch (action) {
    case "up": {
      const state = await upTestEnv({ progress: say });
      process.stdout.write(
        `KUBECONFIG=${state.kubeconfig}\nAPI server: ${state.server}\nOpenBao (Vault dev): ${state.baoAddr}\nRedis: ${state.redisUrl}\nShell: . .testenv/env\n`,
      );
      return 0;
    }
    case "down": {
      const stopped = await downTestEnv({ progress: say });
      process.stdout.write(
        stopped.length > 0 ? `stopped ${stopped.length} process(es)\n` : "nothing was running\n",
      );
      return 0;
    }
    case "seed": {
      const state = await requireTestEnvState();
      const status = await testEnvStatus();
      if (!status.healthy) {
        throw new DeputyError(
          "TESTENV_FAILED",
          'the test environment is not healthy; run "npm run testenv:up" first',
        );
      }
      const kc = new KubeConfig();
      kc.loadFromFile(state.kubeconfig);
      const started = Date.now();
      await seedCluster(kc, { progress: say });
      process.stdout.write(`seeded namespace shop in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      return 0;
    }
    case "status": {
      const status = await testEnvStatus();
      const lines = [
        `healthy: ${status.healthy}`,
        ...(status.state
          ? [`api server: ${status.state.server} (${status.apiserver ? "ready" : "not ready"})`]
          : []),
        ...(status.state
          ? [`openbao:    ${status.state.baoAddr} (${status.vault ? "ready" : "not ready"})`]
          : []),
        `redis:      ${status.redis ? "answers" : "does not answer"}`,
        ...status.processes.map(
          (p) => `${p.name.padEnd(24)} pid ${p.pid} ${p.running ? "running" : "STOPPED"}  log ${p.log}`,
        ),
      ];
      process.stdout.write(`${lines.join("\n")}\n`);
      return status.healthy ? 0 : 1;
    }
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      return action === undefined ? 2 : 0;
    default:
      process.stderr.write(`deputy testenv: unknown action "${action}"\n\n${USAGE}`);
      return 2;
  }
}
