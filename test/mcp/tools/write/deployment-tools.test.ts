import { AppsV1Api } from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createActionStore, type ActionStore } from "../../../../core/actions/store.ts";
import { adminKubeConfig, eventually } from "../../../helpers/testenv.ts";
import { alice, connectRedis, dropPrefix, testPrefix, testSigner } from "../../../executor/support.ts";
import { prepareNamespaces } from "../../../executor/write-env.ts";
import {
  startHarness,
  storedProposal,
  type Harness,
  type ProposalView,
  type ToolReply,
} from "../../harness.ts";

/**
 * Deployment write tools over MCP against the real API server: each reads its
 * target with the read-only identity, previews the change, stores one pending
 * action with normalised arguments — and changes nothing.
 */
const NS = "deputy-w-tools";
const meta = { "deputy/requester": alice };

describe("deployment write tools propose, never write", () => {
  let harness: Harness;
  let redis: Redis;
  let prefix: string;
  let store: ActionStore;
  const apps = () => adminKubeConfig().makeApiClient(AppsV1Api);

  const pending = (reply: ToolReply): Promise<ProposalView> => {
    expect(reply.isError, reply.text).toBe(false);
    return storedProposal(store, reply);
  };

  beforeAll(async () => {
    await prepareNamespaces();
    redis = connectRedis();
    prefix = testPrefix("tools");
    store = createActionStore(redis, { prefix, ttlSeconds: 900, signer: testSigner() });
    harness = await startHarness({
      env: { DEPUTY_REDIS_PREFIX: prefix, DEPUTY_RATE_LIMIT_USER_PER_MINUTE: "1000" },
    });
    await apps()
      .deleteNamespacedDeployment({ name: "api", namespace: NS })
      .catch(() => undefined);
    await eventually("old api gone", () =>
      apps()
        .readNamespacedDeployment({ name: "api", namespace: NS })
        .then(
          () => false,
          () => true,
        ),
    );
    await apps().createNamespacedDeployment({
      namespace: NS,
      body: {
        metadata: { name: "api", namespace: NS },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: "api" } },
          template: {
            metadata: { labels: { app: "api" } },
            spec: {
              containers: [
                {
                  name: "app",
                  image: "ghcr.io/example/api:1.0.0",
                  env: [
                    { name: "MODE", value: "fast" },
                    { name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "db", key: "password" } } },
                  ],
                  resources: { limits: { memory: "128Mi" } },
                },
              ],
            },
          },
        },
      },
    });
    // A second revision, so there is something to roll back to.
    await apps().patchNamespacedDeployment({
      name: "api",
      namespace: NS,
      body: [
        { op: "replace", path: "/spec/template/spec/containers/0/image", value: "ghcr.io/example/api:1.1.0" },
      ],
    });
    await eventually("two revisions", async () => {
      const rs = await apps().listNamespacedReplicaSet({ namespace: NS, labelSelector: "app=api" });
      return rs.items.length >= 2;
    });
  });

  afterAll(async () => {
    await harness?.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it("every proposal leaves the deployment untouched", async () => {
    const before = await apps().readNamespacedDeployment({ name: "api", namespace: NS });
    const replies = [
      await harness.call("restart_deployment", { namespace: NS, name: "api" }, meta),
      await harness.call("scale_deployment", { namespace: NS, name: "api", replicas: 0 }, meta),
      await harness.call(
        "set_deployment_image",
        { namespace: NS, name: "api", container: "app", image: "ghcr.io/example/api:2.0.0" },
        meta,
      ),
      await harness.call(
        "set_deployment_resources",
        { namespace: NS, name: "api", container: "app", limits: { memory: "256Mi" } },
        meta,
      ),
      await harness.call(
        "set_deployment_env",
        { namespace: NS, name: "api", container: "app", set: { MODE: "safe", NEW: "1" }, remove: [] },
        meta,
      ),
      await harness.call("rollback_deployment", { namespace: NS, name: "api" }, meta),
    ];
    const ids = (await Promise.all(replies.map(pending))).map((proposal) => proposal.id);
    expect(new Set(ids).size).toBe(6);
    const after = await apps().readNamespacedDeployment({ name: "api", namespace: NS });
    // The controller may update status meanwhile; the spec is what a write would change.
    expect(after.metadata?.generation).toBe(before.metadata?.generation);
    expect(after.spec).toEqual(before.spec);
    expect((await store.list("pending")).map((action) => action.id).sort()).toEqual([...ids].sort());
  });

  it("previews exactly what changes and stores normalised arguments", async () => {
    const scale = await pending(
      await harness.call("scale_deployment", { namespace: NS, name: "api", replicas: 0 }, meta),
    );
    // The API server's answer against the live object: exactly one field changes.
    const changed = (preview: string[]): string[] =>
      preview.filter((line) => / → |\(added\)|\(removed/.test(line));
    expect(changed(scale.preview)).toEqual(["spec.replicas: 2 → 0"]);
    expect(scale.preview).toContain("2 pod(s) will be stopped.");
    expect(scale.risk).toEqual({
      level: "high",
      flags: [{ rule: "scale-to-zero", message: `Scaling to 0 stops every pod of ${NS}/api.` }],
    });

    const env = await pending(
      await harness.call(
        "set_deployment_env",
        { namespace: NS, name: "api", container: "app", set: { NEW: "1", MODE: "safe" }, remove: [] },
        meta,
      ),
    );
    expect(changed(env.preview)).toEqual([
      'spec.template.spec.containers[name=app].env[name=MODE].value: "fast" → "safe"',
      'spec.template.spec.containers[name=app].env[name=NEW].name: (added) "NEW"',
      'spec.template.spec.containers[name=app].env[name=NEW].value: (added) "1"',
    ]);
    expect((await store.get(env.id))?.arguments).toEqual({
      namespace: NS,
      name: "api",
      container: "app",
      set: { MODE: "safe", NEW: "1" },
      remove: [],
    });

    const resources = await pending(
      await harness.call(
        "set_deployment_resources",
        {
          namespace: NS,
          name: "api",
          container: "app",
          requests: { cpu: "250m" },
          limits: { memory: "256Mi" },
        },
        meta,
      ),
    );
    expect(changed(resources.preview)).toEqual([
      'spec.template.spec.containers[name=app].resources.limits.memory: "128Mi" → "256Mi"',
      'spec.template.spec.containers[name=app].resources.requests.cpu: (added) "250m"',
    ]);

    const rollback = await pending(
      await harness.call("rollback_deployment", { namespace: NS, name: "api" }, meta),
    );
    expect(rollback.summary).toBe(`Roll back Deployment ${NS}/api from revision 2 to revision 1.`);
    expect(rollback.preview).toContain(
      'spec.template.spec.containers[name=app].image: "ghcr.io/example/api:1.1.0" → "ghcr.io/example/api:1.0.0"',
    );
    const stored = await store.get(rollback.id);
    expect(stored?.arguments).toMatchObject({ toRevision: 1, replicaSet: expect.stringMatching(/^api-/) });
    expect(stored?.target).toMatchObject({ kind: "Deployment", uid: expect.any(String), generation: 2 });
  });

  it("refuses bad requests with a sentence naming the problem, storing nothing", async () => {
    const count = (await store.list("pending")).length;
    const cases: [string, Record<string, unknown>, RegExp][] = [
      [
        "scale_deployment",
        { namespace: NS, name: "nope", replicas: 1 },
        /Deployment "nope" not found in namespace deputy-w-tools/,
      ],
      [
        "scale_deployment",
        { namespace: NS, name: "api", replicas: -1 },
        /Invalid arguments for scale_deployment: replicas/,
      ],
      [
        "set_deployment_image",
        { namespace: NS, name: "api", container: "sidecar", image: "x:1" },
        /has no container "sidecar"; its containers are app/,
      ],
      [
        "set_deployment_image",
        { namespace: NS, name: "api", container: "app", image: "x:1; rm -rf /" },
        /image must be a reference/,
      ],
      [
        "set_deployment_image",
        { namespace: NS, name: "api", container: "app", image: "ghcr.io/example/api:1.1.0" },
        /already runs/,
      ],
      ["set_deployment_resources", { namespace: NS, name: "api", container: "app" }, /Give at least one of/],
      [
        "set_deployment_env",
        { namespace: NS, name: "api", container: "app", set: { DB_PASSWORD: "hunter2" } },
        /DB_PASSWORD come\(s\) from a Secret\/ConfigMap reference/,
      ],
      [
        "set_deployment_env",
        { namespace: NS, name: "api", container: "app", remove: ["GONE"] },
        /GONE is not set/,
      ],
      [
        "set_deployment_env",
        { namespace: NS, name: "api", container: "app", set: { NEW: "1" }, order: ["NEW", "MODE"] },
        /order must name each of the container's variables after the change once: DB_PASSWORD, MODE, NEW/,
      ],
      [
        "rollback_deployment",
        { namespace: NS, name: "api", toRevision: 9 },
        /has no revision 9; available: 1/,
      ],
      [
        "restart_deployment",
        { namespace: NS, name: "api", patch: { spec: {} } },
        /unknown argument\(s\) "patch"/,
      ],
      [
        "restart_deployment",
        { namespace: "kube-system", name: "coredns" },
        /^Refused by rule protected-namespace: namespace kube-system is protected/,
      ],
    ];
    for (const [tool, args, message] of cases) {
      const reply = await harness.call(tool, args, meta);
      expect(reply.isError, `${tool} ${JSON.stringify(args)}`).toBe(true);
      expect(reply.text).toMatch(message);
    }
    const anonymous = await harness.call("restart_deployment", { namespace: NS, name: "api" });
    expect(anonymous.isError).toBe(true);
    expect(anonymous.text).toMatch(/needs the requester's identity/);
    expect((await store.list("pending")).length).toBe(count);
    // The protected-namespace refusal is audited with its rule.
    expect(
      harness.audit.some(
        (r) => r.kind === "policy_decision" && r.decision === "deny" && r.rule === "protected-namespace",
      ),
    ).toBe(true);
  });
});
