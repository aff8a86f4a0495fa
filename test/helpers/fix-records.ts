import type { Redis } from "ioredis";
import type { FixRecord } from "../../core/memory/fix-record.ts";

let counter = 0;

/**
 * A remembered fix as Deputy records it: a crash loop of shop/checkout for a
 * missing setting, fixed by setting it, approved by U0BOB and verified healthy;
 * each call a new action id and a later run on 3 Dec 2026.
 */
export function fixRecord(overrides: Partial<FixRecord> = {}): FixRecord {
  counter++;
  const ranAt = new Date(Date.UTC(2026, 11, 3, 10, 0, counter % 60, Math.floor(counter / 60))).toISOString();
  return {
    v: 1,
    id: `act_fixrecordfixture${String(counter).padStart(8, "0")}`,
    cluster: "prod-eu",
    namespace: "shop",
    workload: { kind: "Deployment", name: "checkout" },
    cause: {
      rule: "crash-loop",
      key: "crash-loop:missing-config",
      facts: { container: "web", cause: "missing-config" },
    },
    change: {
      tool: "set_deployment_env",
      input: { container: "web", set: { PAYMENT_GATEWAY_URL: "https://pay.internal" }, remove: [] },
    },
    requester: { kind: "slack", id: "U0ALICE" },
    approver: { kind: "slack", id: "U0BOB" },
    proposedAt: ranAt,
    approvedAt: ranAt,
    ranAt,
    result: "healthy",
    verifiedSeconds: 40,
    thread: { channel: "C0SHOP", ts: "1764756000.000100" },
    recordedAt: new Date().toISOString(),
    ...overrides,
  };
}

/**
 * A Redis client that counts what it is asked: each method called (a
 * pipeline's `exec` as `<kind>.exec`) and the round trips that makes (a
 * command, or a pipeline sent).
 */
export function countingRedis(client: Redis): { client: Redis; calls: string[]; trips: () => number } {
  const calls: string[] = [];
  const local = new Set(["pipeline", "multi", "on", "once", "off", "duplicate", "disconnect", "quit"]);
  const proxy = new Proxy(client, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== "function" || typeof property !== "string") return value;
      return (...args: unknown[]) => {
        calls.push(property);
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (property === "pipeline" || property === "multi") {
          const batch = result as { exec: () => Promise<unknown> };
          const exec = batch.exec.bind(batch);
          batch.exec = () => {
            calls.push(`${property}.exec`);
            return exec();
          };
        }
        return result;
      };
    },
  });
  const trips = (): number => calls.filter((call) => call.endsWith(".exec") || !local.has(call)).length;
  return { client: proxy, calls, trips };
}
