import { CoordinationV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../core/observability/logger.ts";
import { createLeaderElector, type LeaderElector } from "../../watcher/leader.ts";
import { createTriageService, type TriageService } from "../../watcher/service.ts";
import type { TriageWatcher } from "../../watcher/watcher.ts";
import { adminKubeConfig, deleteNamespace, freshNamespace } from "../helpers/testenv.ts";
import { watcherKubeConfig } from "./identity.ts";

const logger = createLogger({ level: "silent" });
let namespace: string;
const electors: (LeaderElector | TriageService)[] = [];

beforeAll(async () => {
  namespace = await freshNamespace("lease");
});
afterAll(async () => {
  await Promise.all(electors.map((e) => e.stop({ release: false })));
  await deleteNamespace(namespace);
});

async function until(condition: () => boolean, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return Date.now() - start;
}

// Short enough for a test to watch a Lease lapse; the renew deadline leaves a leader most of
// it to renew, so a slow API server on a loaded machine does not depose it.
const LEASE_SECONDS = 4;
const RENEW_DEADLINE_MS = 3000;
/** How long to wait for what the API server must answer first: it can be slow under load. */
const API_WAIT_MS = 30_000;

async function replica(
  identity: string,
  lease: string,
  events: string[],
  leaseSeconds = LEASE_SECONDS,
): Promise<LeaderElector> {
  const elector = createLeaderElector({
    kubeConfig: await watcherKubeConfig(namespace),
    namespace,
    name: lease,
    identity,
    leaseDurationSeconds: leaseSeconds,
    renewDeadlineMs: RENEW_DEADLINE_MS,
    retryMs: 250,
    logger,
    onStartedLeading: () => void events.push(`${identity} leads`),
    onStoppedLeading: () => void events.push(`${identity} stops`),
  });
  electors.push(elector);
  return elector;
}

async function holder(lease: string): Promise<string | undefined> {
  const api = adminKubeConfig().makeApiClient(CoordinationV1Api);
  return (await api.readNamespacedLease({ name: lease, namespace })).spec?.holderIdentity;
}

describe("leader election through a Lease", () => {
  it("keeps a second replica passive until the leader's Lease lapses", async () => {
    const events: string[] = [];
    const a = await replica("replica-a", "watcher-lapse", events);
    const b = await replica("replica-b", "watcher-lapse", events);
    a.start();
    await until(() => a.isLeader(), API_WAIT_MS);
    b.start();
    // Two whole lease durations: the leader keeps renewing, so B never takes over.
    await new Promise((resolve) => setTimeout(resolve, LEASE_SECONDS * 2000));
    expect(b.isLeader()).toBe(false);
    expect(await holder("watcher-lapse")).toBe("replica-a");

    // A dies without releasing: B must wait for the Lease to lapse, then lead.
    await a.stop({ release: false });
    const stoppedAt = Date.now();
    await until(() => b.isLeader(), LEASE_SECONDS * 1000 + API_WAIT_MS);
    const takeover = Date.now() - stoppedAt;
    expect(takeover).toBeGreaterThanOrEqual(LEASE_SECONDS * 1000 - 600);
    expect(await holder("watcher-lapse")).toBe("replica-b");
    expect(events).toEqual(["replica-a leads", "replica-a stops", "replica-b leads"]);
    console.log(`lease takeover after the leader died: ${takeover} ms (lease ${LEASE_SECONDS} s)`);
  });

  it("hands over at once when the leader stops cleanly", async () => {
    // A long Lease: a successor that waited for it to lapse is told apart from one that did not
    // by far more than a loaded machine's delays.
    const leaseSeconds = 30;
    const events: string[] = [];
    const a = await replica("replica-a", "watcher-release", events, leaseSeconds);
    const b = await replica("replica-b", "watcher-release", events, leaseSeconds);
    a.start();
    await until(() => a.isLeader(), API_WAIT_MS);
    b.start();
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(b.isLeader()).toBe(false);
    await a.stop();
    const takeover = await until(() => b.isLeader(), leaseSeconds * 1000);
    expect(takeover).toBeLessThan(leaseSeconds * 1000);
    expect(a.isLeader()).toBe(false);
  });

  it("never has two leaders when candidates start together", async () => {
    const events: string[] = [];
    const candidates = await Promise.all(
      ["r1", "r2", "r3"].map((identity) => replica(identity, "watcher-race", events)),
    );
    for (const c of candidates) c.start();
    await until(() => candidates.some((c) => c.isLeader()), API_WAIT_MS);
    for (let i = 0; i < 12; i++) {
      expect(candidates.filter((c) => c.isLeader()).length).toBeLessThanOrEqual(1);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(candidates.filter((c) => c.isLeader())).toHaveLength(1);
  });

  it("runs the watcher only on the leader, and moves it when the leader dies", async () => {
    const running = new Set<string>();
    const watcherOf = (name: string): TriageWatcher => ({
      async start() {
        running.add(name);
      },
      async stop() {
        running.delete(name);
      },
      async idle() {},
    });
    const service = async (name: string): Promise<TriageService> => {
      const s = createTriageService({
        watcher: watcherOf(name),
        kubeConfig: await watcherKubeConfig(namespace),
        leaseNamespace: namespace,
        leaseName: "watcher-service",
        identity: name,
        leaseDurationSeconds: LEASE_SECONDS,
        renewDeadlineMs: RENEW_DEADLINE_MS,
        retryMs: 250,
        logger,
      });
      electors.push(s);
      return s;
    };
    const a = await service("pod-a");
    const b = await service("pod-b");
    a.start();
    await until(() => running.has("pod-a"), API_WAIT_MS);
    b.start();
    await new Promise((resolve) => setTimeout(resolve, LEASE_SECONDS * 1500));
    expect([...running]).toEqual(["pod-a"]);
    await a.stop({ release: false });
    expect(running.has("pod-a")).toBe(false);
    await until(() => running.has("pod-b"), LEASE_SECONDS * 1000 + API_WAIT_MS);
    expect([...running]).toEqual(["pod-b"]);
  });
});
