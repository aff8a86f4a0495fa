import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hostAccessOf, podSpecRisks } from "../../../core/actions/pod-spec.ts";
import { applyManifest } from "../../../core/actions/types/index.ts";

/**
 * The approval view hides nothing that changes what runs: for generated pod
 * specs changed in generated ways, every field of the manifest that differs
 * from the live object has a line of its own, with its value in full.
 */

type Json = Record<string, unknown>;

const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/);
const value = fc.oneof(fc.string({ maxLength: 300 }), fc.integer(), fc.boolean(), fc.constant(null));
const container = fc.record({
  name,
  image: fc.stringMatching(/^[a-z]{1,10}(\/[a-z]{1,10}){0,2}:[0-9]{1,3}$/),
  // Long values too: a card that shortened them would hide what runs.
  command: fc.array(fc.string({ minLength: 1, maxLength: 400, size: "max" }), { maxLength: 4 }),
  env: fc.array(
    fc.record({ name: fc.stringMatching(/^[A-Z_]{1,12}$/), value: fc.string({ maxLength: 200 }) }),
    {
      maxLength: 6,
    },
  ),
  securityContext: fc.record(
    { runAsUser: fc.integer({ min: 0, max: 70000 }), readOnlyRootFilesystem: fc.boolean() },
    { requiredKeys: [] },
  ),
});
const podSpec = fc.record({
  containers: fc.array(container, { minLength: 1, maxLength: 3 }),
  serviceAccountName: fc.option(name, { nil: undefined }),
  nodeSelector: fc.dictionary(name, fc.string({ maxLength: 40 }), { maxKeys: 3 }),
});

function deployment(spec: unknown): Json {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web", namespace: "shop" },
    spec: { replicas: 2, template: { metadata: { labels: { app: "web" } }, spec } },
  };
}

/** Every leaf of `desired` that differs from `live`, as [path, value]. */
function differingLeaves(desired: unknown, live: unknown, path = ""): [string, unknown][] {
  if (
    desired !== null &&
    typeof desired === "object" &&
    !Array.isArray(desired) &&
    Object.keys(desired).length > 0
  ) {
    return Object.entries(desired as Json).flatMap(([key, child]) =>
      path === "" && (key === "apiVersion" || key === "kind")
        ? []
        : path === "metadata" && (key === "name" || key === "namespace")
          ? []
          : differingLeaves(child, (live as Json | undefined)?.[key], path ? `${path}.${key}` : key),
    );
  }
  if (Array.isArray(desired) && desired.length > 0) {
    return desired.flatMap((child, index) =>
      differingLeaves(child, Array.isArray(live) ? live[index] : undefined, `${path}[${index}]`),
    );
  }
  return JSON.stringify(desired) === JSON.stringify(live) ? [] : [[path, desired]];
}

describe("the approval view of apply_manifest", () => {
  it("shows every field that differs from the live object, in full", () => {
    fc.assert(
      fc.property(
        podSpec,
        podSpec,
        fc.dictionary(name, value, { maxKeys: 3 }),
        (liveSpec, newSpec, extra) => {
          // As parsed from YAML or JSON: no undefined values.
          const live = JSON.parse(JSON.stringify(deployment(liveSpec))) as Json;
          const desired = JSON.parse(JSON.stringify(deployment({ ...newSpec, ...extra }))) as Json;
          const args = { namespace: "shop", kind: "Deployment" as const, name: "web", manifest: desired };
          const view = applyManifest.view(
            args,
            { live },
            { kind: "Deployment", namespace: "shop", name: "web" },
          );
          const lines = view.changes.join("\n");
          for (const [path, leaf] of differingLeaves(desired, live)) {
            expect(lines).toContain(`${path}: `);
            expect(lines).toContain(`→ ${JSON.stringify(leaf)}`);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("shows every field of a new object", () => {
    fc.assert(
      fc.property(podSpec, (spec) => {
        const desired = JSON.parse(JSON.stringify(deployment(spec))) as Json;
        const args = { namespace: "shop", kind: "Deployment" as const, name: "web", manifest: desired };
        const view = applyManifest.view(args, {}, { kind: "Deployment", namespace: "shop", name: "web" });
        for (const [path] of differingLeaves(desired, undefined)) {
          expect(view.changes.some((line) => line.startsWith(`${path}: (absent) → `))).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("pod-spec analysis", () => {
  it("finds every way a pod reaches its node", () => {
    const found = hostAccessOf(
      {
        hostNetwork: true,
        hostPID: true,
        hostIPC: true,
        volumes: [{ name: "root", hostPath: { path: "/" } }],
        initContainers: [{ name: "init", securityContext: { privileged: true } }],
        containers: [
          { name: "app", securityContext: { capabilities: { add: ["NET_BIND_SERVICE", "SYS_ADMIN"] } } },
          { name: "proxy", ports: [{ containerPort: 80, hostPort: 80 }] },
        ],
      },
      ["NET_BIND_SERVICE"],
    );
    expect(found).toEqual([
      "hostNetwork: true shares the node's namespace",
      "hostPID: true shares the node's namespace",
      "hostIPC: true shares the node's namespace",
      "volume root mounts the node's path / (hostPath)",
      "container app adds capability SYS_ADMIN",
      "container proxy binds host port 80",
      "init container init is privileged",
    ]);
    expect(hostAccessOf({ containers: [{ name: "app", image: "x:1" }] }, [])).toEqual([]);
  });

  it("flags what a change adds, naming the Secret, account and image", () => {
    const before = {
      serviceAccountName: "web",
      containers: [
        { name: "app", image: "registry.example.com/web:1", envFrom: [{ secretRef: { name: "old" } }] },
      ],
    };
    const after = {
      serviceAccountName: "admin",
      automountServiceAccountToken: true,
      securityContext: { runAsUser: 0 },
      volumes: [{ name: "creds", secret: { secretName: "db-credentials" } }],
      containers: [
        {
          name: "app",
          image: "docker.io/someone/web:2",
          envFrom: [{ secretRef: { name: "old" } }],
          env: [{ name: "NOTE", value: "AKIAIOSFODNN7EXAMPLE" }],
          securityContext: { allowPrivilegeEscalation: true },
        },
      ],
    };
    const flags = podSpecRisks(
      { workload: "Deployment shop/web", kind: "DaemonSet", before, after },
      { allowedRegistries: ["registry.example.com/"], allowedCapabilities: [] },
    );
    const byRule = Object.fromEntries(flags.map((flag) => [flag.rule, flag.message]));
    expect(Object.keys(byRule).sort()).toEqual([
      "daemonset",
      "image-registry",
      "privilege-escalation",
      "run-as-root",
      "secret-literal",
      "secret-reference",
      "service-account",
    ]);
    expect(byRule["secret-reference"]).toContain("Secret db-credentials (volume creds)");
    expect(byRule["secret-reference"]).not.toContain("Secret old");
    expect(byRule["service-account"]).toContain("service account admin (was web)");
    expect(byRule["image-registry"]).toContain("docker.io/someone/web:2");
    // Nothing new, nothing flagged: a Deployment that already read a Secret is not high risk for it.
    expect(
      podSpecRisks(
        { workload: "Deployment shop/web", kind: "Deployment", before, after: before },
        { allowedRegistries: [], allowedCapabilities: [] },
      ),
    ).toEqual([]);
  });
});
