import { randomBytes } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { stringify } from "yaml";
import { DeputyError } from "../core/errors.ts";
import { KUBE_PIN, checkBinaryVersion, ensureBinaries } from "./binaries.ts";
import { withFileLock } from "./file-lock.ts";
import { httpGet } from "./http.ts";
import { REPO_ROOT, VERSIONS, testEnvLayout, type TestEnvLayout } from "./layout.ts";
import { generatePki, pkiPaths, type Pki } from "./pki.ts";
import {
  freePort,
  isRunning,
  readRecords,
  startDetached,
  stopProcess,
  waitUntil,
  type ProcessRecord,
} from "./processes.ts";
import { REDIS_URL, ensureRedis, redisAnswers } from "./redis.ts";

/**
 * The local test environment: etcd, kube-apiserver, kube-controller-manager,
 * the fake kubelet / pod simulator, a Vault dev server (OpenBao's HTTP API)
 * and Redis. `upTestEnv` is idempotent and safe to call from several
 * processes at once (a lock file serialises them); `downTestEnv` stops
 * exactly the processes recorded in .testenv/pids.
 */
export interface TestEnvState {
  version: 1;
  /** Admin kubeconfig (system:masters client certificate). */
  kubeconfig: string;
  server: string;
  caFile: string;
  baoAddr: string;
  /** Root token of the dev server: for setting up auth methods and engines only. */
  baoRootToken: string;
  redisUrl: string;
  /** Pod logs served by the fake kubelet: <logsDir>/<ns>/<pod>/<container>.log */
  logsDir: string;
  /** Where each process of the environment writes its own log. */
  processLogsDir: string;
  /** The service-account token issuer (for OpenBao's Kubernetes auth config). */
  serviceAccountIssuer: string;
  apiAudiences: string[];
  ports: { etcd: number; apiserver: number; vault: number; kubelet: number };
  startedAt: string;
}

export const SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc";
export const API_AUDIENCES = ["https://kubernetes.default.svc", "openbao"];

/**
 * Only the controllers workloads need. No node lifecycle or pod GC
 * controller: the fake nodes must not be tainted or have their pods evicted.
 * The ClusterRole aggregation controller fills `view`, `edit` and `admin`.
 */
const CONTROLLERS = [
  "deployment-controller",
  "replicaset-controller",
  "statefulset-controller",
  "daemonset-controller",
  "job-controller",
  "cronjob-controller",
  "ttl-after-finished-controller",
  "garbage-collector-controller",
  "namespace-controller",
  "disruption-controller",
  "serviceaccount-controller",
  "clusterrole-aggregation-controller",
  "root-ca-certificate-publisher-controller",
];

type Progress = (line: string) => void;

async function readState(layout: TestEnvLayout): Promise<TestEnvState | undefined> {
  try {
    return JSON.parse(await readFile(layout.envJson, "utf8")) as TestEnvState;
  } catch {
    return undefined;
  }
}

/** Health of a recorded environment, component by component. */
export interface TestEnvStatus {
  state: TestEnvState | undefined;
  processes: { name: string; pid: number; running: boolean; log: string }[];
  apiserver: boolean;
  vault: boolean;
  redis: boolean;
  healthy: boolean;
}

const REQUIRED = ["etcd", "kube-apiserver", "kube-controller-manager", "fake-kubelet", "vault"];

export async function testEnvStatus(layout: TestEnvLayout = testEnvLayout()): Promise<TestEnvStatus> {
  const state = await readState(layout);
  const records = await readRecords(layout.pids);
  const processes = await Promise.all(
    records.map(async (record) => ({
      name: record.name,
      pid: record.pid,
      running: await isRunning(record),
      log: record.log,
    })),
  );
  const pki = pkiPaths(layout.pki);
  const [apiserver, vault, redis] = state
    ? await Promise.all([
        httpGet(`${state.server}/readyz`, { ca: pki.caCert, cert: pki.adminCert, key: pki.adminKey }).then(
          (res) => res.status === 200,
          () => false,
        ),
        httpGet(`${state.baoAddr}/v1/sys/health`).then(
          (res) => res.status === 200,
          () => false,
        ),
        redisAnswers(),
      ])
    : [false, false, await redisAnswers()];
  const allRunning = allRequiredRunning({ processes });
  return {
    state,
    processes,
    apiserver,
    vault,
    redis,
    healthy: Boolean(state) && allRunning && apiserver && vault && redis,
  };
}

function allRequiredRunning(status: Pick<TestEnvStatus, "processes">): boolean {
  return REQUIRED.every((name) => status.processes.some((p) => p.name === name && p.running));
}

/**
 * How long to wait for another process's `up`: as long as the slowest cold
 * build seen, with room (kube + etcd + Vault took 16 minutes on a fresh
 * two-core machine). A holder that dies frees the lock at once.
 */
export const LOCK_WAIT_MS = 90 * 60_000;

/** Serialise `up`/`down` across processes: vitest workers, CLI runs and other test runs share .testenv. */
async function withLock<T>(layout: TestEnvLayout, progress: Progress, fn: () => Promise<T>): Promise<T> {
  await mkdir(layout.root, { recursive: true });
  return withFileLock(
    layout.lock,
    {
      waitMs: LOCK_WAIT_MS,
      progress,
      waiting: (holder, minutes) =>
        `waiting for another testenv up/down (pid ${holder}) to finish: ${minutes} min so far; ` +
        `a first build of the binaries can take 15–30 min, so this waits up to ${LOCK_WAIT_MS / 60_000} min`,
      timedOut: (holder) =>
        `waited ${LOCK_WAIT_MS / 60_000} min for the testenv lock held by pid ${holder}; ` +
        `if that process is stuck, stop it (kill ${holder}) and run "npm run testenv:up" again`,
    },
    fn,
  );
}

function kubeconfigYaml(server: string, pki: Pki, user: string, cert: string, key: string): Promise<string> {
  return Promise.all([readFile(pki.caCert), readFile(cert), readFile(key)]).then(([ca, crt, k]) =>
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        { name: "testenv", cluster: { server, "certificate-authority-data": ca.toString("base64") } },
      ],
      users: [
        {
          name: user,
          user: {
            "client-certificate-data": crt.toString("base64"),
            "client-key-data": k.toString("base64"),
          },
        },
      ],
      contexts: [{ name: "testenv", context: { cluster: "testenv", user, namespace: "default" } }],
      "current-context": "testenv",
    }),
  );
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

async function stopAll(layout: TestEnvLayout, progress: Progress): Promise<string[]> {
  const records = await readRecords(layout.pids);
  // Stop in reverse dependency order: clients before the API server before etcd.
  const order = ["fake-kubelet", "kube-controller-manager", "vault", "kube-apiserver", "etcd", "redis"];
  records.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
  const stopped: string[] = [];
  for (const record of records) {
    if (await stopProcess(record, layout.pids)) {
      stopped.push(`${record.name} (pid ${record.pid})`);
      progress(`stopped ${record.name} (pid ${record.pid})`);
    }
  }
  return stopped;
}

async function startFresh(layout: TestEnvLayout, progress: Progress): Promise<TestEnvState> {
  const started = Date.now();
  const binaries = await ensureBinaries(progress);
  // A fresh environment: nothing from an old one (etcd data, pod logs, certs) survives.
  // (Pid records were already removed by stopAll; a Redis started by preflight keeps its record.)
  for (const dir of [layout.pki, layout.etcdData, layout.podLogs]) {
    await rm(dir, { recursive: true, force: true });
  }
  await rm(layout.envJson, { force: true });
  await mkdir(layout.podLogs, { recursive: true });
  const dirs = { pidDir: layout.pids, logDir: layout.logs };
  const records: ProcessRecord[] = [];
  const track = (record: ProcessRecord): ProcessRecord => {
    records.push(record);
    return record;
  };

  try {
    progress("generating certificates…");
    const [pki, redisRecord] = await Promise.all([generatePki(layout.pki), ensureRedis(dirs, progress)]);
    if (redisRecord) track(redisRecord);

    const [etcdPort, etcdPeerPort, apiserverPort, vaultPort, kubeletPort] = await Promise.all(
      Array.from({ length: 5 }, () => freePort()),
    );
    const ports = { etcd: etcdPort!, apiserver: apiserverPort!, vault: vaultPort!, kubelet: kubeletPort! };
    const etcdUrl = `http://127.0.0.1:${ports.etcd}`;
    const server = `https://127.0.0.1:${ports.apiserver}`;
    const baoAddr = `http://127.0.0.1:${ports.vault}`;
    // Vault reserves the "hvs." prefix for tokens it generates itself.
    const baoRootToken = `testenv-${randomBytes(16).toString("hex")}`;

    progress(`starting etcd on 127.0.0.1:${ports.etcd}…`);
    const etcd = track(
      await startDetached({
        name: "etcd",
        executable: binaries.etcd,
        args: [
          "--name=testenv",
          `--data-dir=${layout.etcdData}`,
          `--listen-client-urls=${etcdUrl}`,
          `--advertise-client-urls=${etcdUrl}`,
          `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
          `--initial-cluster=testenv=http://127.0.0.1:${etcdPeerPort}`,
          "--unsafe-no-fsync",
          "--log-level=warn",
        ],
        ...dirs,
      }),
    );

    progress(`starting Vault dev server (OpenBao API) on ${baoAddr}…`);
    const vaultHome = join(layout.root, "vault-home");
    await mkdir(vaultHome, { recursive: true });
    const vault = track(
      await startDetached({
        name: "vault",
        executable: binaries.vault,
        args: [
          "server",
          "-dev",
          `-dev-root-token-id=${baoRootToken}`,
          `-dev-listen-address=127.0.0.1:${ports.vault}`,
          "-dev-no-store-token",
        ],
        // VAULT_* settings belong to this process only; HOME keeps it out of the user's files.
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: vaultHome, VAULT_LOG_LEVEL: "warn" },
        ...dirs,
      }),
    );

    await waitUntil("etcd", async () => (await httpGet(`${etcdUrl}/health`)).status === 200, {
      timeoutMs: 20_000,
      log: etcd.log,
      alive: () => isRunning(etcd),
    });

    progress(`starting kube-apiserver on ${server}…`);
    const apiserver = track(
      await startDetached({
        name: "kube-apiserver",
        executable: binaries.kubeApiserver,
        args: [
          `--etcd-servers=${etcdUrl}`,
          "--bind-address=127.0.0.1",
          "--advertise-address=127.0.0.1",
          `--secure-port=${ports.apiserver}`,
          `--cert-dir=${layout.pki}`,
          `--tls-cert-file=${pki.apiserverCert}`,
          `--tls-private-key-file=${pki.apiserverKey}`,
          `--client-ca-file=${pki.caCert}`,
          "--service-cluster-ip-range=10.0.0.0/24",
          // The seeded troubles' events must outlive a reused environment (the default TTL is 1 h).
          "--event-ttl=24h",
          `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
          `--service-account-key-file=${pki.serviceAccountPub}`,
          `--service-account-signing-key-file=${pki.serviceAccountKey}`,
          `--api-audiences=${API_AUDIENCES.join(",")}`,
          "--authorization-mode=Node,RBAC",
          "--disable-admission-plugins=ServiceAccount",
          "--enable-admission-plugins=NodeRestriction",
          `--kubelet-client-certificate=${pki.kubeletClientCert}`,
          `--kubelet-client-key=${pki.kubeletClientKey}`,
          `--kubelet-certificate-authority=${pki.caCert}`,
          "--kubelet-preferred-address-types=InternalIP",
          "--allow-privileged=true",
          // The default reconciler would publish 127.0.0.1 as the kubernetes Service endpoint, which is invalid.
          "--endpoint-reconciler-type=none",
          "--enable-priority-and-fairness=false",
          "--profiling=false",
          "--v=1",
        ],
        ...dirs,
      }),
    );
    const adminTls = { ca: pki.caCert, cert: pki.adminCert, key: pki.adminKey };
    await waitUntil(
      "kube-apiserver",
      async () => (await httpGet(`${server}/readyz`, adminTls)).status === 200,
      { timeoutMs: 60_000, intervalMs: 250, log: apiserver.log, alive: () => isRunning(apiserver) },
    );

    await writeFile(
      layout.kubeconfig,
      await kubeconfigYaml(server, pki, "admin", pki.adminCert, pki.adminKey),
      {
        mode: 0o600,
      },
    );
    const kcmKubeconfig = join(layout.pki, "controller-manager.kubeconfig");
    await writeFile(
      kcmKubeconfig,
      await kubeconfigYaml(
        server,
        pki,
        "controller-manager",
        pki.controllerManagerCert,
        pki.controllerManagerKey,
      ),
      { mode: 0o600 },
    );
    const simulatorKubeconfig = join(layout.pki, "simulator.kubeconfig");
    await writeFile(
      simulatorKubeconfig,
      await kubeconfigYaml(server, pki, "simulator", pki.simulatorCert, pki.simulatorKey),
      { mode: 0o600 },
    );

    progress("starting kube-controller-manager and the fake kubelet…");
    const kcm = track(
      await startDetached({
        name: "kube-controller-manager",
        executable: binaries.kubeControllerManager,
        args: [
          `--kubeconfig=${kcmKubeconfig}`,
          `--controllers=${CONTROLLERS.join(",")}`,
          "--leader-elect=false",
          "--secure-port=0",
          "--use-service-account-credentials=false",
          `--root-ca-file=${pki.caCert}`,
          "--v=1",
        ],
        ...dirs,
      }),
    );

    const kubeletConfig = join(layout.root, "fake-kubelet.json");
    await writeFile(
      kubeletConfig,
      `${JSON.stringify(
        {
          kubeconfig: simulatorKubeconfig,
          port: ports.kubelet,
          certFile: pki.kubeletServingCert,
          keyFile: pki.kubeletServingKey,
          clientCaFile: pki.caCert,
          logsDir: layout.podLogs,
        },
        null,
        2,
      )}\n`,
    );
    const kubelet = track(
      await startDetached({
        name: "fake-kubelet",
        executable: process.execPath,
        args: [join(REPO_ROOT, "devenv", "fake-kubelet.ts"), kubeletConfig],
        cwd: REPO_ROOT,
        ...dirs,
      }),
    );

    await Promise.all([
      waitUntil(
        "fake kubelet",
        async () =>
          (
            await httpGet(`https://127.0.0.1:${ports.kubelet}/healthz`, {
              ca: pki.caCert,
              cert: pki.kubeletClientCert,
              key: pki.kubeletClientKey,
            })
          ).body === "ok",
        { timeoutMs: 30_000, log: kubelet.log, alive: () => isRunning(kubelet) },
      ),
      waitUntil("Vault dev server", async () => (await httpGet(`${baoAddr}/v1/sys/health`)).status === 200, {
        timeoutMs: 30_000,
        log: vault.log,
        alive: () => isRunning(vault),
      }),
      // The controller manager has no health port here; give it a moment to fail loudly on bad flags.
      sleep(1000).then(async () => {
        if (!(await isRunning(kcm))) {
          throw new DeputyError("TESTENV_FAILED", `kube-controller-manager exited (see ${kcm.log})`);
        }
      }),
    ]);

    const state: TestEnvState = {
      version: 1,
      kubeconfig: layout.kubeconfig,
      server,
      caFile: pki.caCert,
      baoAddr,
      baoRootToken,
      redisUrl: REDIS_URL,
      logsDir: layout.podLogs,
      processLogsDir: layout.logs,
      serviceAccountIssuer: SERVICE_ACCOUNT_ISSUER,
      apiAudiences: API_AUDIENCES,
      ports,
      startedAt: new Date().toISOString(),
    };
    await writeFile(layout.envJson, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
    await writeFile(
      layout.envFile,
      [
        "# Written by `deputy testenv up`. Source it: . .testenv/env",
        `export KUBECONFIG=${shellQuote(state.kubeconfig)}`,
        `export BAO_ADDR=${shellQuote(state.baoAddr)}`,
        "# Root token of the dev server: for setting up auth methods and engines only, never for Deputy itself.",
        `export BAO_TOKEN=${shellQuote(state.baoRootToken)}`,
        `export REDIS_URL=${shellQuote(state.redisUrl)}`,
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
    progress(`test environment up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return state;
  } catch (error) {
    // Leave nothing half-started behind.
    for (const record of records.reverse()) await stopProcess(record, layout.pids, 5000);
    throw error;
  }
}

/** What the running API server and Vault say they are, beside the pins. */
export interface RunningVersions {
  apiserver: string;
  vault: string;
  /** Sentences naming each component that is not its pin; empty when both are. */
  mismatches: string[];
}

/**
 * Ask the running API server (/version) and Vault (sys/health) which version
 * they are. A kube-apiserver built without version stamping reports
 * "v0.0.0-master"; it passes only when its major.minor match and the
 * recorded executable's build information carries the pinned module.
 */
export async function checkRunningVersions(
  state: TestEnvState,
  layout: TestEnvLayout = testEnvLayout(),
): Promise<RunningVersions> {
  const pki = pkiPaths(layout.pki);
  const [kube, bao] = await Promise.all([
    httpGet(`${state.server}/version`, { ca: pki.caCert, cert: pki.adminCert, key: pki.adminKey }, 10_000),
    httpGet(`${state.baoAddr}/v1/sys/health`, {}, 10_000),
  ]);
  const kubeInfo = JSON.parse(kube.body) as { gitVersion?: string; major?: string; minor?: string };
  const vaultVersion = String((JSON.parse(bao.body) as { version?: unknown }).version ?? "unknown");
  const apiserver = kubeInfo.gitVersion ?? "unknown";
  const mismatches: string[] = [];
  if (apiserver !== VERSIONS.kube) {
    const [major, minor] = VERSIONS.kube.replace(/^v/, "").split(".");
    const record = (await readRecords(layout.pids)).find((r) => r.name === "kube-apiserver");
    const unstampedPin =
      apiserver.startsWith("v0.0.0-") &&
      kubeInfo.major === major &&
      kubeInfo.minor === minor &&
      record !== undefined &&
      (await checkBinaryVersion(record.executable, KUBE_PIN)).ok;
    if (!unstampedPin) {
      mismatches.push(`the running kube-apiserver reports ${apiserver}, not the pinned ${VERSIONS.kube}`);
    }
  }
  if (`v${vaultVersion}` !== VERSIONS.vault) {
    mismatches.push(`the running Vault reports ${vaultVersion}, not the pinned ${VERSIONS.vault}`);
  }
  return { apiserver, vault: vaultVersion, mismatches };
}

async function requirePinnedVersions(state: TestEnvState, layout: TestEnvLayout): Promise<void> {
  const { mismatches } = await checkRunningVersions(state, layout);
  if (mismatches.length > 0) {
    throw new DeputyError(
      "TESTENV_FAILED",
      `${mismatches.join("; ")}; stop it with "npm run testenv:down" and run "npm run testenv:up"`,
    );
  }
}

/**
 * Bring the environment up, reusing a running healthy one. An unhealthy one
 * is restarted only when `restart` allows it and never from inside a test
 * worker: other test files in flight would lose their cluster mid-test.
 */
export async function upTestEnv(
  options: { progress?: Progress; layout?: TestEnvLayout; restart?: boolean } = {},
): Promise<TestEnvState> {
  const layout = options.layout ?? testEnvLayout();
  const progress = options.progress ?? (() => {});
  const mayRestart = (options.restart ?? true) && !process.env.VITEST_WORKER_ID;
  return withLock(layout, progress, async () => {
    let status = await testEnvStatus(layout);
    // Other test runs may be using this environment: on a loaded machine a
    // health probe can time out while every process is fine, so look again
    // before tearing anything down.
    for (
      let attempt = 0;
      attempt < 3 && !status.healthy && status.state && allRequiredRunning(status);
      attempt++
    ) {
      await sleep(2000);
      status = await testEnvStatus(layout);
    }
    if (status.healthy && status.state) {
      await requirePinnedVersions(status.state, layout);
      progress(`reusing the running test environment (${status.state.server})`);
      return status.state;
    }
    if (!mayRestart) {
      throw new DeputyError(
        "TESTENV_FAILED",
        `the test environment at ${layout.root} is not healthy, and it is not restarted while tests may be using it; ` +
          'run "npm run testenv:up" when no tests are running',
      );
    }
    if (status.processes.length > 0) {
      progress("the recorded test environment is not healthy; restarting it");
      await stopAll(layout, progress);
    }
    const state = await startFresh(layout, progress);
    await requirePinnedVersions(state, layout);
    return state;
  });
}

/** Stop exactly the processes `up` started (as recorded in .testenv/pids). */
export async function downTestEnv(
  options: { progress?: Progress; layout?: TestEnvLayout } = {},
): Promise<string[]> {
  const layout = options.layout ?? testEnvLayout();
  const progress = options.progress ?? (() => {});
  return withLock(layout, progress, async () => {
    const stopped = await stopAll(layout, progress);
    await rm(layout.envJson, { force: true });
    await rm(layout.envFile, { force: true });
    return stopped;
  });
}

/** Make sure Redis answers on 127.0.0.1:6379, starting one (recorded for `down`) if not. */
export async function ensureTestRedis(
  options: { progress?: Progress; layout?: TestEnvLayout } = {},
): Promise<void> {
  if (await redisAnswers()) return;
  const layout = options.layout ?? testEnvLayout();
  const progress = options.progress ?? (() => {});
  await withLock(layout, progress, async () => {
    await ensureRedis({ pidDir: layout.pids, logDir: layout.logs }, progress);
  });
}

/** The recorded state of a running environment, or a clear error saying how to start one. */
export async function requireTestEnvState(layout: TestEnvLayout = testEnvLayout()): Promise<TestEnvState> {
  const state = await readState(layout);
  if (!state) {
    throw new DeputyError(
      "TESTENV_FAILED",
      `no test environment at ${layout.root}; run "npm run testenv:up"`,
    );
  }
  return state;
}
