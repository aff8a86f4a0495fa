import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ObjectChange } from "../../../core/actions/object-risk.ts";
import { hostAccess } from "../../../mcp/policy/host-access.ts";
import { input } from "./support.ts";

type Json = Record<string, unknown>;

const rule = hostAccess({ allowedCapabilities: ["NET_BIND_SERVICE"] });

function deployment(spec: Json, templateMetadata: Json = {}): Json {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "agent", namespace: "shop" },
    spec: { template: { metadata: templateMetadata, spec } },
  };
}

describe("rule host-access", () => {
  it("refuses host access in the dry-run result that the manifest did not show", () => {
    // The live Deployment already has a hostPath volume; a partial apply adds a container mounting it.
    const live = deployment({
      volumes: [{ name: "logs", hostPath: { path: "/var/log" } }],
      containers: [
        { name: "agent", image: "agent:1", volumeMounts: [{ name: "logs", mountPath: "/var/log" }] },
      ],
    });
    const manifestSpec = {
      containers: [{ name: "debug", image: "debug:1", volumeMounts: [{ name: "logs", mountPath: "/host" }] }],
    };
    const result = deployment({
      volumes: [{ name: "logs", hostPath: { path: "/var/log" } }],
      containers: [
        { name: "agent", image: "agent:1", volumeMounts: [{ name: "logs", mountPath: "/var/log" }] },
        { name: "debug", image: "debug:1", volumeMounts: [{ name: "logs", mountPath: "/host" }] },
      ],
    });
    const workload = "Deployment shop/agent";
    // The manifest alone passes: this is what the rule saw before.
    expect(
      rule.evaluate(input({ podTemplates: [{ workload, kind: "Deployment", after: manifestSpec }] })),
    ).toEqual({ effect: "allow" });
    const verdict = rule.evaluate(
      input({
        podTemplates: [{ workload, kind: "Deployment", after: manifestSpec }],
        objects: [{ kind: "Deployment", workload, before: live, after: result }],
      }),
    );
    expect(verdict).toEqual({
      effect: "deny",
      message:
        "Refused by rule host-access: Deployment shop/agent would get access to its node: volume logs mounts the node's path /var/log (hostPath). Deputy never runs pods with host access; change such workloads through Git.",
    });
  });

  it("lets the result decide for a workload it covers, and still reads podTemplates for the others", () => {
    const workload = "Deployment shop/agent";
    const declared = { containers: [{ name: "a", securityContext: { privileged: true } }] };
    const clean = deployment({ containers: [{ name: "a", image: "a:1" }] });
    expect(
      rule.evaluate(
        input({
          podTemplates: [{ workload, kind: "Deployment", after: declared }],
          objects: [{ kind: "Deployment", workload, after: clean }],
        }),
      ),
    ).toEqual({ effect: "allow" });
    expect(
      rule.evaluate(
        input({
          podTemplates: [{ workload: "Job shop/other", kind: "Job", after: declared }],
          objects: [{ kind: "Deployment", workload, after: clean }],
        }),
      ),
    ).toMatchObject({ effect: "deny", message: expect.stringContaining("Job shop/other would get access") });
  });

  it("refuses SELinux spc_t as host access", () => {
    const verdict = rule.evaluate(
      input({
        objects: [
          {
            kind: "Job",
            workload: "Job shop/warm",
            after: {
              spec: {
                template: {
                  spec: {
                    containers: [{ name: "w", securityContext: { seLinuxOptions: { type: "spc_t" } } }],
                  },
                },
              },
            },
          },
        ],
      }),
    );
    expect(verdict).toMatchObject({
      effect: "deny",
      message: expect.stringContaining(
        "Job shop/warm would get access to its node: container w runs with SELinux type spc_t",
      ),
    });
  });

  /** One way to reach the node, placed at a generated spot of a pod spec. */
  const hostFeature = fc.oneof(
    fc.constantFrom<[string, Json]>(
      ["pod", { hostNetwork: true }],
      ["pod", { hostPID: true }],
      ["pod", { hostIPC: true }],
      ["pod", { volumes: [{ name: "root", hostPath: { path: "/" } }] }],
      ["pod", { securityContext: { seLinuxOptions: { type: "spc_t" } } }],
      ["pod", { securityContext: { windowsOptions: { hostProcess: true } } }],
    ),
    fc
      .constantFrom<Json>(
        { securityContext: { privileged: true } },
        { securityContext: { capabilities: { add: ["SYS_ADMIN"] } } },
        { securityContext: { seLinuxOptions: { type: "unconfined_t" } } },
        { securityContext: { windowsOptions: { hostProcess: true } } },
        { ports: [{ containerPort: 80, hostPort: 8080 }] },
      )
      .map((container): [string, Json] => ["container", container]),
  );
  const workloadKind = fc.constantFrom("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob");

  function wrap(kind: string, spec: Json): Json {
    const template = { metadata: { labels: { app: "x" } }, spec };
    return kind === "CronJob"
      ? { spec: { schedule: "* * * * *", jobTemplate: { spec: { template } } } }
      : { spec: { template } };
  }

  it("refuses host access anywhere in any workload's result", () => {
    fc.assert(
      fc.property(
        workloadKind,
        hostFeature,
        fc.constantFrom("containers", "initContainers", "ephemeralContainers"),
        fc.nat({ max: 2 }),
        (kind, [level, feature], list, index) => {
          const containers = [0, 1, 2].map((i) => ({ name: `c${i}`, image: "x:1" }));
          const spec: Json = { containers: [{ name: "main", image: "x:1" }] };
          if (level === "pod") Object.assign(spec, feature);
          else {
            containers[index] = { ...containers[index], ...feature } as { name: string; image: string };
            spec[list] = list === "containers" ? [...(spec.containers as Json[]), ...containers] : containers;
          }
          const change: ObjectChange = { kind, workload: `${kind} shop/x`, after: wrap(kind, spec) };
          expect(rule.evaluate(input({ objects: [change] })).effect).toBe("deny");
          // The same workload without the feature is allowed.
          const clean: ObjectChange = {
            kind,
            workload: `${kind} shop/x`,
            after: wrap(kind, { containers: [{ name: "main", image: "x:1" }] }),
          };
          expect(rule.evaluate(input({ objects: [clean] })).effect).toBe("allow");
        },
      ),
      { numRuns: 300 },
    );
  });
});
