import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Redis } from "ioredis";
import { parseConfig } from "../../../core/config/config.ts";
import { createPolicy } from "../../../mcp/policy/index.ts";
import { capture, connectRedis, dropPrefix, testPrefix } from "../../executor/support.ts";
import { budget, input, pod } from "./support.ts";

describe("createPolicy: the guardrails together", () => {
  let redis: Redis;
  let prefix: string;
  beforeAll(() => {
    redis = connectRedis();
    prefix = testPrefix("policy");
  });
  afterAll(async () => {
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  function policy(env: Record<string, string> = {}) {
    const config = parseConfig({
      DEPUTY_REDIS_PREFIX: prefix,
      DEPUTY_PROTECTED_NAMESPACES: "payments",
      ...env,
    });
    const captured = capture();
    return { policy: createPolicy({ config, redis, audit: captured.audit }), captured };
  }

  it("allows with flags and a high risk, and audits the decision", async () => {
    const { policy: p, captured } = policy();
    const decision = await p.evaluate(
      input({
        pods: [pod("db-0", { owner: "StatefulSet", labels: { app: "db" } })],
        pdbs: [budget("db-pdb", { app: "db" }, 0)],
      }),
    );
    expect(decision).toMatchObject({ allowed: true, risk: "high" });
    expect(decision.allowed && decision.flags.map((flag) => flag.rule)).toEqual(["statefulset-pod", "pdb"]);
    expect(captured.records).toHaveLength(1);
    expect(captured.records[0]).toMatchObject({
      kind: "policy_decision",
      decision: "allow",
      tool: "delete_pod",
    });
    expect(captured.records[0]?.details).toMatchObject({ flags: ["statefulset-pod", "pdb"] });
  });

  it("stops at the first refusal, names the rule, audits it, and does not charge the rate limit", async () => {
    const { policy: p, captured } = policy({ DEPUTY_RATE_LIMIT_USER_PER_MINUTE: "1" });
    const requester = { kind: "local" as const, id: "carol" };
    const refused = await p.evaluate(
      input({ requester, target: { kind: "Pod", namespace: "payments", name: "x" } }),
    );
    expect(refused).toMatchObject({ allowed: false, rule: "protected-namespace" });
    expect(captured.records[0]).toMatchObject({
      kind: "policy_decision",
      decision: "deny",
      rule: "protected-namespace",
    });
    // The refused proposal did not use the requester's one slot.
    expect(await p.evaluate(input({ requester }))).toMatchObject({ allowed: true, risk: "normal" });
    expect(await p.evaluate(input({ requester }))).toMatchObject({ allowed: false, rule: "rate-limit-user" });
  });

  it("always protects kube-system", async () => {
    const { policy: p } = policy();
    expect(p.isProtectedNamespace("kube-system")).toBe(true);
    expect(
      await p.evaluate(input({ target: { kind: "Pod", namespace: "kube-system", name: "coredns" } })),
    ).toMatchObject({
      allowed: false,
      rule: "protected-namespace",
    });
    expect(p.rules).toEqual([
      "no-force",
      "protected-namespace",
      "argocd-managed",
      "host-access",
      "indirect-write",
      "statefulset-pod",
      "pod-spec-risk",
      "pdb",
      "rate-limit",
    ]);
  });

  it("names the indirect-write finding's own rule and collects the result's flags", async () => {
    const { policy: p, captured } = policy({ DEPUTY_IMAGE_REGISTRIES: "registry.example.com" });
    const refused = await p.evaluate(
      input({
        tool: "apply_manifest",
        target: { kind: "Service", namespace: "shop", name: "web" },
        objects: [
          { kind: "Service", workload: "Service shop/web", after: { spec: { externalIPs: ["1.1.1.1"] } } },
        ],
      }),
    );
    expect(refused).toMatchObject({ allowed: false, rule: "service-external-ips" });
    expect(captured.records.at(-1)).toMatchObject({ decision: "deny", rule: "service-external-ips" });
    const flagged = await p.evaluate(
      input({
        tool: "apply_manifest",
        target: { kind: "Deployment", namespace: "shop", name: "web" },
        objects: [
          {
            kind: "Deployment",
            workload: "Deployment shop/web",
            after: {
              spec: {
                template: {
                  spec: { containers: [{ name: "app", image: "registry.example.com.evil.io/x:1" }] },
                },
              },
            },
          },
          {
            kind: "Service",
            workload: "Service shop/web",
            after: { spec: { type: "LoadBalancer", selector: { app: "web" } } },
          },
        ],
      }),
    );
    expect(flagged).toMatchObject({ allowed: true, risk: "high" });
    expect(flagged.allowed && flagged.flags.map((flag) => flag.rule)).toEqual([
      "service-exposure",
      "image-registry",
    ]);
  });

  it("prechecks no-force and protected-namespace before anything is read, auditing only refusals", () => {
    const { policy: p, captured } = policy();
    expect(p.precheck(input())).toBeUndefined();
    expect(captured.records).toHaveLength(0);
    expect(
      p.precheck(input({ target: { kind: "Deployment", namespace: "payments", name: "ghost" } })),
    ).toMatchObject({
      allowed: false,
      rule: "protected-namespace",
    });
    expect(p.precheck(input({ arguments: { name: "x", force: true } }))).toMatchObject({
      allowed: false,
      rule: "no-force",
    });
    expect(captured.records.map((record) => [record.decision, record.rule])).toEqual([
      ["deny", "protected-namespace"],
      ["deny", "no-force"],
    ]);
  });
});
