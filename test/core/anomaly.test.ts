import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { Redis } from "ioredis";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import type { Alert, AlertSink } from "../../core/observability/alerts.ts";
import {
  adoptLegacyWritePause,
  anomalyDetectorFromConfig,
  clusterStatePrefix,
  countInWindow,
  createAnomalyDetector,
  isWritePaused,
  pauseWrites,
  resumeWrites,
  resumeWritesOf,
  writePausesOf,
  writePauseStatus,
  type AnomalyDetector,
} from "../../core/observability/anomaly.ts";
import { createAuditLog, type AuditEvent, type AuditLog, type AuditRecord } from "../../core/audit/log.ts";
import { parseConfig } from "../../core/config/config.ts";
import { createLogger } from "../../core/observability/logger.ts";
import { createMetrics, type Metrics } from "../../core/observability/metrics.ts";
import { loadTestEnv } from "../helpers/testenv.ts";
import { alice, bob } from "./audit-fixtures.ts";

function redisUrl(): string {
  try {
    return loadTestEnv().redisUrl;
  } catch {
    return "redis://127.0.0.1:6379";
  }
}

// Two replicas: separate connections, separate detectors, separate audit chains, one Redis.
const redisA = new Redis(redisUrl(), { lazyConnect: false });
const redisB = new Redis(redisUrl(), { lazyConnect: false });
afterAll(async () => {
  await Promise.all([redisA.quit(), redisB.quit()]);
});

interface Replica {
  detector: AnomalyDetector;
  audit: AuditLog;
  records: AuditRecord[];
  metrics: Metrics;
}

let prefix: string;
let alerts: Alert[];

function replica(redis: Redis, windowMs = 60_000): Replica {
  const records: AuditRecord[] = [];
  const metrics = createMetrics();
  const audit = createAuditLog({
    destination: new Writable({ write: (_c, _e, cb) => cb() }),
    onRecord: (record) => records.push(record),
  });
  const sink: AlertSink = {
    async postAlert(alert) {
      alerts.push(alert);
    },
  };
  const detector = createAnomalyDetector({
    redis,
    prefix,
    thresholds: {
      deletesPerWindow: 5,
      denialsPerWindow: 10,
      windowMs,
      protectedNamespaces: ["kube-system", "payments"],
    },
    sink,
    metrics,
    audit,
  });
  return { detector, audit, records, metrics };
}

let sequence = 0;
function actionId(): string {
  return `act_${randomBytes(12).toString("hex")}${sequence++}`;
}

/** Record an event on a replica's own audit log and feed it to its detector, as the observer would. */
async function emit(r: Replica, event: AuditEvent): Promise<Alert[]> {
  return r.detector.observe(r.audit.record(event));
}

const deleteProposal = (id = actionId()): AuditEvent => ({
  kind: "pending_action",
  actionId: id,
  actor: alice,
  tool: "delete_pod",
  arguments: { namespace: "shop", name: `checkout-${id.slice(-6)}` },
  decision: "pending",
});

const deleteExecution = (id = actionId()): AuditEvent => ({
  kind: "execution",
  actionId: id,
  actor: alice,
  approver: bob,
  tool: "delete_pod",
  arguments: { namespace: "shop", name: `checkout-${id.slice(-6)}` },
  outcome: "succeeded",
  kubeStatus: 200,
});

const denial = (): AuditEvent => ({
  kind: "policy_decision",
  actor: alice,
  tool: "restart_deployment",
  arguments: { namespace: "shop", name: "catalog" },
  decision: "deny",
  rule: "argocd-managed",
  // Two replicas in one test process can write byte-identical records in the same millisecond;
  // real replicas are separate processes with chains of their own.
  details: { attempt: sequence++ },
});

beforeEach(() => {
  prefix = `deputy-test:${randomBytes(6).toString("hex")}:`;
  alerts = [];
});

describe("anomaly detection across two replicas sharing Redis", () => {
  it("does not fire at 5 executed deletes in a minute, fires once at the 6th, and pauses writes", async () => {
    const a = replica(redisA);
    const b = replica(redisB);
    for (let i = 0; i < 5; i++) await emit(i % 2 === 0 ? a : b, deleteExecution());
    expect(alerts).toHaveLength(0);
    expect(await isWritePaused(redisA, prefix)).toBe(false);

    const fired = await emit(b, deleteExecution());
    expect(fired).toHaveLength(1);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ rule: "delete-burst", severity: "critical", writesPaused: true });
    expect(alerts[0]!.text).toContain("6 executed delete or evict actions in 1 min (more than 5)");
    // The alert says how long and how to lift it.
    expect(alerts[0]!.text).toContain(
      "paused cluster-wide for 15 min; an approver can resume them with /deputy resume-writes or the Resume writes button on the alert.",
    );
    expect(await isWritePaused(redisA, prefix)).toBe(true);
    expect(await writePauseStatus(redisB, prefix)).toMatchObject({ rule: "delete-burst" });
    expect(b.records.some((r) => r.kind === "anomaly" && r.rule === "delete-burst")).toBe(true);
    expect(await b.metrics.registry.metrics()).toContain('deputy_anomalies_total{rule="delete-burst"} 1');

    // Further deletes in the same window do not repeat the alert.
    await emit(a, deleteExecution());
    await emit(b, deleteExecution());
    expect(alerts).toHaveLength(1);
  });

  it("counts only what happened: proposed or failed deletes never pause writes", async () => {
    const a = replica(redisA);
    const b = replica(redisB);
    for (let i = 0; i < 20; i++) {
      await emit(a, deleteProposal());
      await emit(b, { ...deleteExecution(), outcome: "failed", kubeStatus: 429 });
    }
    expect(alerts).toHaveLength(0);
    expect(await isWritePaused(redisA, prefix)).toBe(false);
  });

  it("fires exactly once when both replicas race past the threshold", async () => {
    const a = replica(redisA);
    const b = replica(redisB);
    await Promise.all(Array.from({ length: 20 }, (_, i) => emit(i % 2 === 0 ? a : b, deleteExecution())));
    expect(alerts.filter((alert) => alert.rule === "delete-burst")).toHaveLength(1);
  });

  it("forgets deletes that slid out of the window", async () => {
    // Long enough that the last six deletes fall inside one window however slowly they are sent.
    const windowMs = 4000;
    const a = replica(redisA, windowMs);
    const b = replica(redisB, windowMs);
    for (let i = 0; i < 5; i++) await emit(a, deleteExecution());
    await new Promise((resolve) => setTimeout(resolve, windowMs + 100));
    for (let i = 0; i < 5; i++) await emit(b, deleteExecution());
    expect(alerts).toHaveLength(0); // 10 in total, but only 5 in the window
    await emit(a, deleteExecution());
    expect(alerts).toHaveLength(1); // the 6th inside the window
  });

  it("fires on a burst of policy denials above the threshold without pausing writes", async () => {
    const a = replica(redisA);
    const b = replica(redisB);
    for (let i = 0; i < 10; i++) await emit(i % 2 === 0 ? a : b, denial());
    expect(alerts).toHaveLength(0);
    await emit(a, denial());
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ rule: "denial-burst", severity: "warning", writesPaused: false });
    expect(alerts[0]!.text).toContain("11 policy denials");
    expect(alerts[0]!.text).toContain("argocd-managed");
    expect(await isWritePaused(redisA, prefix)).toBe(false);
  });

  it("alerts on the first write proposed in a protected namespace, without pausing writes", async () => {
    const a = replica(redisA);
    const b = replica(redisB);
    await emit(a, { kind: "tool_call", tool: "list_pods", arguments: { namespace: "kube-system" } });
    await emit(b, { ...deleteProposal(), arguments: { namespace: "shop", name: "x" } });
    expect(alerts).toHaveLength(0);
    await emit(b, {
      kind: "pending_action",
      actionId: actionId(),
      actor: alice,
      tool: "scale_deployment",
      arguments: { namespace: "payments", name: "api", replicas: 0 },
    });
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      rule: "protected-namespace-write",
      severity: "warning",
      writesPaused: false,
    });
    expect(alerts[0]!.text).toContain(
      "protected namespace payments: scale_deployment payments/api for alice",
    );
    expect(await isWritePaused(redisA, prefix)).toBe(false);
  });

  it("alerts on a refused proposal in kube-system, and writes stay open", async () => {
    const a = replica(redisA);
    await emit(a, {
      kind: "policy_decision",
      actor: { kind: "slack", id: "U0MALLORY" },
      tool: "restart_deployment",
      arguments: { namespace: "kube-system", name: "coredns" },
      decision: "deny",
      rule: "protected-namespace",
    });
    expect(alerts).toEqual([
      expect.objectContaining({
        rule: "protected-namespace-write",
        severity: "warning",
        writesPaused: false,
      }),
    ]);
    expect(await isWritePaused(redisA, prefix)).toBe(false);
  });

  it("ends a pause by itself after its TTL", async () => {
    // Long enough to read the pause back before it ends, however slowly the calls go.
    const ttlSeconds = 3;
    expect(await pauseWrites(redisA, { rule: "delete-burst", reason: "testing" }, prefix, ttlSeconds)).toBe(
      true,
    );
    const status = await writePauseStatus(redisB, prefix);
    expect(status).toMatchObject({ rule: "delete-burst", until: expect.any(String) });
    expect(Date.parse(status!.until!) - Date.parse(status!.since)).toBe(ttlSeconds * 1000);
    expect(await redisA.pttl(`${prefix}writes:paused`)).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, ttlSeconds * 1000 + 300));
    expect(await isWritePaused(redisB, prefix)).toBe(false);
  });

  it("lets an approver resume writes, audited", async () => {
    const a = replica(redisA);
    expect(await pauseWrites(redisA, { rule: "manual", reason: "testing" }, prefix)).toBe(true);
    expect(await pauseWrites(redisB, { rule: "again", reason: "second" }, prefix)).toBe(false);
    expect(await isWritePaused(redisB, prefix)).toBe(true);
    const lifted = await a.detector.resume(bob);
    expect(lifted).toMatchObject({ rule: "manual", reason: "testing" });
    expect(await isWritePaused(redisB, prefix)).toBe(false);
    expect(a.records.at(-1)).toMatchObject({ kind: "anomaly", rule: "writes-resumed", approver: bob });
    expect(await resumeWrites(redisA, prefix)).toBeUndefined();
  });

  it("still pauses writes when posting the alert fails", async () => {
    const detector = createAnomalyDetector({
      redis: redisA,
      prefix,
      thresholds: { deletesPerWindow: 0, denialsPerWindow: 10, protectedNamespaces: [] },
      sink: {
        async postAlert() {
          throw new Error("slack is down");
        },
      },
    });
    const audit = createAuditLog({ destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    expect(await detector.observe(audit.record(deleteExecution()))).toHaveLength(1);
    expect(await isWritePaused(redisB, prefix)).toBe(true);
  });

  it("countInWindow is exact at the boundary", async () => {
    const key = `${prefix}window`;
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await countInWindow(redisA, key, `m${i}`, 60_000, 3));
    expect(results.map((r) => [r.count, r.fired])).toEqual([
      [1, false],
      [2, false],
      [3, false],
      [4, true],
    ]);
  });
});

describe("anomaly state per cluster", () => {
  it("an earlier version's pause becomes the cluster's own, with the time it had left, unless the cluster has one", async () => {
    const config = parseConfig({ DEPUTY_CLUSTER_NAME: "prod-eu", DEPUTY_REDIS_PREFIX: prefix });
    const state = clusterStatePrefix(config);
    // What the earlier version stored: one pause for the deployment, under the base prefix.
    await pauseWrites(redisA, { rule: "delete-burst", reason: "6 deletes" }, prefix, 600);
    expect(await isWritePaused(redisA, state)).toBe(false);
    expect(await adoptLegacyWritePause(redisA, config)).toBe(true);
    expect(await writePauseStatus(redisA, state)).toMatchObject({
      rule: "delete-burst",
      reason: "6 deletes",
    });
    const ttl = await redisA.ttl(`${state}writes:paused`);
    expect(ttl).toBeGreaterThan(590);
    expect(ttl).toBeLessThanOrEqual(600);
    expect(await isWritePaused(redisA, prefix)).toBe(false);
    // Nothing to adopt, or the cluster already paused: nothing changes.
    expect(await adoptLegacyWritePause(redisA, config)).toBe(false);
    await pauseWrites(redisA, { rule: "denial-burst", reason: "older" }, prefix, 600);
    expect(await adoptLegacyWritePause(redisA, config)).toBe(false);
    expect(await writePauseStatus(redisA, state)).toMatchObject({ rule: "delete-burst" });
  });

  function clusterDetector(name: string, redis: Redis): { detector: AnomalyDetector; audit: AuditLog } {
    const config = parseConfig({ DEPUTY_CLUSTER_NAME: name, DEPUTY_REDIS_PREFIX: prefix });
    const audit = createAuditLog({ destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    const detector = anomalyDetectorFromConfig(config, {
      redis,
      audit,
      logger: createLogger({ level: "silent" }),
      sink: { postAlert: async (alert) => void alerts.push(alert) },
    });
    return { detector, audit };
  }

  it("a burst of deletes in cluster A pauses A's writes only; B keeps counting from zero", async () => {
    const a = clusterDetector("prod-eu", redisA);
    const b = clusterDetector("staging", redisB);
    const stateA = clusterStatePrefix(
      parseConfig({ DEPUTY_CLUSTER_NAME: "prod-eu", DEPUTY_REDIS_PREFIX: prefix }),
    );
    const stateB = clusterStatePrefix(
      parseConfig({ DEPUTY_CLUSTER_NAME: "staging", DEPUTY_REDIS_PREFIX: prefix }),
    );
    for (let i = 0; i < 5; i++) await a.detector.observe(a.audit.record(deleteExecution()));
    // Five in A and five in B: neither cluster is over its threshold of 5.
    for (let i = 0; i < 5; i++) await b.detector.observe(b.audit.record(deleteExecution()));
    expect(alerts).toHaveLength(0);

    await a.detector.observe(a.audit.record(deleteExecution()));
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.text).toMatch(/^\[cluster prod-eu\] /);
    expect(await isWritePaused(redisA, stateA)).toBe(true);
    expect(await isWritePaused(redisB, stateB)).toBe(false);

    // Lifting B's (absent) pause does not lift A's; the bot resumes each cluster by name.
    expect(await resumeWritesOf(redisB, prefix, ["staging"])).toEqual([]);
    expect(await writePausesOf(redisA, prefix, ["prod-eu", "staging"])).toMatchObject([
      { cluster: "prod-eu", rule: "delete-burst" },
    ]);
    expect(await resumeWritesOf(redisA, prefix, ["prod-eu", "staging"])).toMatchObject([
      { cluster: "prod-eu" },
    ]);
    expect(await isWritePaused(redisA, stateA)).toBe(false);
  });
});
