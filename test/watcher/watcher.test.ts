import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { CoreV1Api, makeInformer, type KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { triageText, type TriageMessage, type TriageSink } from "../../core/observability/alerts.ts";
import { createAuditLog, type AuditRecord } from "../../core/audit/log.ts";
import { createKubeClients, type KubeClients } from "../../core/kube/client.ts";
import { createLogger } from "../../core/observability/logger.ts";
import { createMetrics } from "../../core/observability/metrics.ts";
import { createTriageWatcher, type TriageWatcher, type TriageWatcherDeps } from "../../watcher/watcher.ts";
import {
  adminKubeConfig,
  deleteNamespace,
  freshNamespace,
  loadTestEnv,
  SEED,
  writePodLog,
} from "../helpers/testenv.ts";
import { watcherKubeConfig } from "./identity.ts";

const logger = createLogger({ level: "silent" });
const redis = new Redis(loadTestEnv().redisUrl);
const namespaces: string[] = [];
const watchers: TriageWatcher[] = [];
const clients: KubeClients[] = [];
let identity: KubeConfig;
let identityNamespace: string;

beforeAll(async () => {
  identityNamespace = await freshNamespace("watcher-identity");
  namespaces.push(identityNamespace);
  identity = await watcherKubeConfig(identityNamespace);
});

afterAll(async () => {
  await Promise.all(watchers.map((w) => w.stop()));
  for (const client of clients) client.close();
  await redis.quit();
  await Promise.all(namespaces.map((ns) => deleteNamespace(ns)));
});

interface Posted {
  message: TriageMessage;
  at: number;
}

function collector(): { sink: TriageSink; posted: Posted[] } {
  const posted: Posted[] = [];
  return {
    posted,
    sink: {
      async postTriage(message) {
        posted.push({ message, at: Date.now() });
      },
    },
  };
}

function watcher(
  overrides: Partial<TriageWatcherDeps> & Pick<TriageWatcherDeps, "sink" | "namespaces" | "prefix">,
): TriageWatcher {
  const kube = createKubeClients(identity, { logger });
  clients.push(kube);
  const w = createTriageWatcher({ kube, redis, logger, ...overrides });
  watchers.push(w);
  return w;
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const subjectOf = (p: Posted): string =>
  `${p.message.object.kind} ${p.message.object.namespace ? `${p.message.object.namespace}/` : ""}${p.message.object.name} ${p.message.reason}`;

function crashingPod(name: string, mode = "crashloop"): V1Pod {
  return {
    metadata: { name, annotations: { "testenv.deputy.dev/simulate": mode } },
    spec: { containers: [{ name: "app", image: "registry.example/app:1.0" }] },
  };
}

describe("triage watcher on the seeded cluster", () => {
  it("posts one triage per seeded problem, nothing for healthy workloads, and not again after a restart", async () => {
    const prefix = `deputy-test:${randomBytes(6).toString("hex")}:`;
    const { sink, posted } = collector();
    const records: AuditRecord[] = [];
    const metrics = createMetrics();
    const audit = createAuditLog({
      destination: new Writable({ write: (_c, _e, cb) => cb() }),
      onRecord: (r) => records.push(r),
    });
    const analysed: string[] = [];
    const first = watcher({
      sink,
      namespaces: ["shop"],
      prefix,
      metrics,
      audit,
      cluster: "prod-eu",
      analyse: async (text) => {
        analysed.push(text);
        return "The agent thinks this needs a look.";
      },
    });
    await first.start();
    const expected = [
      `Deployment shop/${SEED.crashLoop.deployment} crash-loop`,
      `Deployment shop/${SEED.oomKilled.deployment} oom-killed`,
      `Deployment shop/${SEED.imagePull.deployment} image-pull`,
      `Node ${SEED.notReadyNode} node-not-ready`,
    ];
    await until(
      () => expected.every((e) => posted.some((p) => subjectOf(p) === e)),
      30_000,
      "seeded problems",
    );
    await new Promise((resolve) => setTimeout(resolve, 1500)); // room for duplicates to show up
    await first.idle();
    const subjects = posted.map(subjectOf);
    for (const e of expected)
      expect(
        subjects.filter((s) => s === e),
        e,
      ).toHaveLength(1);
    for (const healthy of [
      SEED.healthy.deployment,
      SEED.argoManaged.deployment,
      SEED.statefulSet.name,
      ...SEED.readyNodes,
    ]) {
      expect(
        subjects.filter((s) => s.includes(`/${healthy} `) || s.includes(` ${healthy} `)),
        healthy,
      ).toEqual([]);
    }

    const crash = posted.find((p) => subjectOf(p) === expected[0])!.message;
    expect(crash.title).toMatch(
      /^Triage: Deployment shop\/checkout \(pod checkout-[a-z0-9-]+\) is crash-looping/,
    );
    expect(crash.diagnosis).toMatch(/exit code|exited/i);
    // One triage channel may hear from several clusters: each message names its own.
    expect(crash.cluster).toBe("prod-eu");
    expect(triageText(crash).split("\n")[0]).toMatch(
      /^\[cluster prod-eu\] Triage: Deployment shop\/checkout/,
    );
    expect(crash.diagnosis).toContain("(cluster text, untrusted)");
    expect(crash.analysis).toBe("The agent thinks this needs a look.");
    expect(analysed.some((text) => text.includes(crash.diagnosis))).toBe(true);
    // The diagnosis quotes cluster text: the model gets it fenced as data.
    expect(analysed.some((text) => /<untrusted-data-[a-z2-7]{12} source="triage /.test(text))).toBe(true);
    const oom = posted.find((p) => subjectOf(p) === expected[1])!.message;
    expect(oom.diagnosis).toMatch(/memory limit/i);
    const image = posted.find((p) => subjectOf(p) === expected[2])!.message;
    expect(image.diagnosis).toContain(SEED.imagePull.badImage);
    const node = posted.find((p) => subjectOf(p) === expected[3])!.message;
    expect(node.diagnosis).toMatch(/MemoryPressure|memory pressure/i);

    expect(records.filter((r) => r.kind === "triage")).toHaveLength(posted.length);
    expect(await metrics.registry.metrics()).toContain(
      'deputy_triage_total{reason="crash-loop",outcome="posted"} 1',
    );

    // A new leader (same Redis) does not repeat what was already posted.
    await first.stop();
    const before = posted.length;
    const secondMetrics = createMetrics();
    const second = watcher({ sink, namespaces: ["shop"], prefix, metrics: secondMetrics });
    await second.start();
    // Waited for until it has met every seeded problem and found it posted, not for a fixed 2 s
    // that a slow first list could outlast (then nothing would have been tested).
    await expect
      .poll(
        async () => {
          const text = await secondMetrics.registry.metrics();
          return ["crash-loop", "oom-killed", "image-pull", "node-not-ready"].filter(
            (reason) => !text.includes(`deputy_triage_total{reason="${reason}",outcome="deduplicated"}`),
          );
        },
        { timeout: 30_000 },
      )
      .toEqual([]);
    await second.idle();
    expect(posted.length).toBe(before);
    await second.stop();
  });
});

describe("triage watcher on fresh pods", () => {
  it("posts a crash loop soon after the pod enters CrashLoopBackOff (measured)", async () => {
    const ns = await freshNamespace("triage-latency");
    namespaces.push(ns);
    const prefix = `deputy-test:${randomBytes(6).toString("hex")}:`;
    const { sink, posted } = collector();
    const w = watcher({ sink, namespaces: [ns], prefix, watchNodes: false });
    await w.start();

    // An independent observer notes when each pod is first seen in CrashLoopBackOff.
    const admin = adminKubeConfig();
    const core = admin.makeApiClient(CoreV1Api);
    const entered = new Map<string, number>();
    const observer = makeInformer<V1Pod>(admin, `/api/v1/namespaces/${ns}/pods`, () =>
      core.listNamespacedPod({ namespace: ns }),
    );
    const note = (pod: V1Pod): void => {
      const name = pod.metadata?.name ?? "";
      if (
        !entered.has(name) &&
        pod.status?.containerStatuses?.some((s) => s.state?.waiting?.reason === "CrashLoopBackOff")
      ) {
        entered.set(name, Date.now());
      }
    };
    observer.on("add", note);
    observer.on("update", note);
    await observer.start();

    // crash-1 logged credentials before it died: none may reach the triage message.
    const secrets = [
      "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJlLXZhbHVl",
      "hvs.CAESIJ2k3lq9mZr0aXH7bQ4vN8wPp1yTt6uFzGcKd",
      "hunter2-correct-horse",
    ];
    await writePodLog(
      ns,
      "crash-1",
      "app",
      [
        "starting app v1.0",
        `connecting with Authorization: Bearer ${secrets[0]}`,
        `vault token ${secrets[1]}`,
        `FATAL: database login failed for user shop password=${secrets[2]}`,
        "Error: connection refused",
      ].join("\n") + "\n",
      { previous: true },
    );

    const names = ["crash-1", "crash-2", "crash-3"];
    const created = new Map<string, number>();
    for (const name of names) {
      created.set(name, Date.now());
      await core.createNamespacedPod({ namespace: ns, body: crashingPod(name) });
    }
    await until(
      () => names.every((n) => posted.some((p) => p.message.object.name === n)),
      30_000,
      "crash-loop triage",
    );
    await observer.stop();

    const latencies = names.map((name) => {
      const at = posted.find((p) => p.message.object.name === name)!.at;
      return { name, fromCrashLoop: at - entered.get(name)!, fromCreate: at - created.get(name)! };
    });
    for (const l of latencies) {
      expect(l.fromCrashLoop).toBeGreaterThanOrEqual(-50); // never before the state exists (clock granularity)
      expect(l.fromCrashLoop).toBeLessThan(5000);
    }
    for (const p of posted)
      expect(p.message).toMatchObject({ reason: "crash-loop", object: { kind: "Pod", namespace: ns } });
    console.log(
      `CrashLoopBackOff → triage: ${latencies.map((l) => `${l.name} ${l.fromCrashLoop} ms (${l.fromCreate} ms from create)`).join(", ")}`,
    );
  });

  it("posts unschedulable pods, rate-limits a burst and delivers the rest later", async () => {
    const ns = await freshNamespace("triage-burst");
    namespaces.push(ns);
    const prefix = `deputy-test:${randomBytes(6).toString("hex")}:`;
    const { sink, posted } = collector();
    const w = watcher({
      sink,
      namespaces: [ns],
      prefix,
      watchNodes: false,
      maxMessagesPerWindow: 2,
      rateWindowMs: 4000,
    });
    await w.start();
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    const pods = ["burst-a", "burst-b", "burst-c", "burst-d"];
    const start = Date.now();
    await core.createNamespacedPod({ namespace: ns, body: crashingPod("stuck", "pending") });
    for (const name of pods) await core.createNamespacedPod({ namespace: ns, body: crashingPod(name) });

    await until(() => posted.length >= 2, 20_000, "first messages");
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const early = posted.filter((p) => p.at - start < 3500);
    expect(early.length).toBeLessThanOrEqual(2);
    await until(() => posted.length === 5, 30_000, "deferred messages");
    expect(posted.find((p) => p.message.object.name === "stuck")?.message.reason).toBe("unschedulable");
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(posted).toHaveLength(5);
  });
});
