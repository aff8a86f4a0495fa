import { CoreV1Api, KubernetesObjectApi, PatchStrategy } from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createActionStore, type ActionStore } from "../../../../core/actions/store.ts";
import { parseManifest } from "../../../../mcp/tools/write/apply-manifest.ts";
import { unifiedDiff } from "../../../../core/actions/diff.ts";
import { adminKubeConfig } from "../../../helpers/testenv.ts";
import { alice, connectRedis, dropPrefix, testPrefix, testSigner } from "../../../executor/support.ts";
import { prepareNamespaces } from "../../../executor/write-env.ts";
import { startHarness, storedProposal, type Harness } from "../../harness.ts";

const NS = "deputy-w-tools";
const meta = { "deputy/requester": alice };
const configMap = (data: Record<string, string>, name = "settings") =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${NS}\ndata:\n${Object.entries(
    data,
  )
    .map(([k, v]) => `  ${k}: "${v}"`)
    .join("\n")}\n`;

describe("apply_manifest and propose_git_change", () => {
  let harness: Harness;
  let redis: Redis;
  let prefix: string;
  let store: ActionStore;

  beforeAll(async () => {
    await prepareNamespaces();
    redis = connectRedis();
    prefix = testPrefix("apply");
    store = createActionStore(redis, { prefix, ttlSeconds: 900, signer: testSigner() });
    harness = await startHarness({
      env: { DEPUTY_REDIS_PREFIX: prefix, DEPUTY_RATE_LIMIT_USER_PER_MINUTE: "1000" },
    });
    await adminKubeConfig()
      .makeApiClient(CoreV1Api)
      .deleteNamespacedConfigMap({ name: "settings", namespace: NS })
      .catch(() => undefined);
    // As Deputy applied it earlier: its fields are Deputy's (field manager deputy), so a new
    // apply changes them without a conflict.
    await KubernetesObjectApi.makeApiClient(adminKubeConfig()).patch(
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "settings", namespace: NS },
        data: { mode: "fast", force: "yes" },
      },
      undefined,
      undefined,
      "deputy",
      true,
      PatchStrategy.ServerSideApply,
    );
  });

  afterAll(async () => {
    await harness?.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it("previews a field-by-field diff against the live object and stores the manifest as the arguments", async () => {
    const reply = await harness.call(
      "apply_manifest",
      { manifest: configMap({ mode: "safe", force: "yes", extra: "1" }) },
      meta,
    );
    expect(reply.isError, reply.text).toBe(false);
    const summary = await storedProposal(store, reply);
    expect(summary.summary).toBe(`Update ConfigMap ${NS}/settings by server-side apply.`);
    expect(summary.preview).toEqual([
      `ConfigMap ${NS}/settings as the API server answers the dry run, against the live object (every field that changes):`,
      'data.extra: (added) "1"',
      'data.mode: "fast" → "safe"',
      "Applied by server-side apply (field manager deputy, no force).",
      "Fields Deputy applied to this object before and this manifest leaves out are removed; fields other managers own stay.",
      "This is the API server's own answer to the exact request (server-side dry run, after merge, defaults and admission). Right before the write the executor repeats the dry run with its own credential and does nothing if the answer differs.",
    ]);
    const stored = await store.get(summary.id);
    expect(stored?.arguments).toMatchObject({
      kind: "ConfigMap",
      namespace: NS,
      name: "settings",
      manifest: { data: { mode: "safe" } },
    });
    const live = await adminKubeConfig()
      .makeApiClient(CoreV1Api)
      .readNamespacedConfigMap({ name: "settings", namespace: NS });
    expect(live.data).toEqual({ mode: "fast", force: "yes" });

    const created = await harness.call(
      "apply_manifest",
      { manifest: configMap({ a: "b" }, "brand-new") },
      meta,
    );
    expect((await storedProposal(store, created)).summary).toBe(
      `Create ConfigMap ${NS}/brand-new by server-side apply.`,
    );
  });

  it("refuses kinds Deputy never applies, zero grace periods, Argo CD objects and malformed manifests", async () => {
    const cases: [string, RegExp][] = [
      [
        `apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: ${NS}}\n`,
        /^Refused by rule apply-kind: kind Secret cannot be applied by Deputy/,
      ],
      [
        `apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: x}\n`,
        /^Refused by rule apply-kind: kind ClusterRoleBinding/,
      ],
      [
        `apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n`,
        /^Refused by rule apply-kind: kind Namespace/,
      ],
      [
        `apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: x}\n`,
        /apply-kind/,
      ],
      [
        `apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: x}\n`,
        /apply-kind/,
      ],
      [
        `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: z, namespace: ${NS}}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      terminationGracePeriodSeconds: 0\n      containers: [{name: c, image: "x:1"}]\n`,
        /^Refused by rule no-force: "manifest\.spec\.template\.spec\.terminationGracePeriodSeconds: 0" is not accepted/,
      ],
      [
        `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: catalog, namespace: shop}\nspec: {replicas: 5}\n`,
        /^Refused by rule argocd-managed: Deployment shop\/catalog is managed by Argo CD/,
      ],
      [
        `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: kube-system}\n`,
        /^Refused by rule protected-namespace/,
      ],
      [
        `${configMap({ a: "1" })}---\n${configMap({ b: "2" }, "other")}`,
        /exactly one object per apply_manifest call \(found 2\)/,
      ],
      [
        `apiVersion: apps/v1\nkind: ConfigMap\nmetadata: {name: a, namespace: ${NS}}\n`,
        /apiVersion of a ConfigMap must be v1/,
      ],
      [
        `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: A_B, namespace: ${NS}}\n`,
        /metadata\.name "A_B" is not a valid Kubernetes name/,
      ],
      [
        `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: ${NS}, resourceVersion: "1"}\n`,
        /metadata\.resourceVersion is set by the server/,
      ],
      [`{ not yaml`, /not valid YAML/],
    ];
    for (const [manifest, message] of cases) {
      const reply = await harness.call("apply_manifest", { manifest }, meta);
      expect(reply.isError, manifest).toBe(true);
      expect(reply.text).toMatch(message);
    }
    expect(parseManifest(configMap({ x: "y" }))).toHaveProperty("object");
  });

  it("propose_git_change returns a unified diff to commit, touching nothing", async () => {
    const reply = await harness.call(
      "propose_git_change",
      {
        kind: "Deployment",
        namespace: "shop",
        name: "catalog",
        change: { type: "image", container: "catalog", image: "ghcr.io/shop-example/catalog:1.8.3" },
      },
      meta,
    );
    expect(reply.isError, reply.text).toBe(false);
    expect(reply.text).toMatch(/^Managed by Argo CD application "shop"/);
    expect(reply.text).toMatch(/^- +image: ghcr\.io\/shop-example\/catalog:1\.8\.2$/m);
    expect(reply.text).toMatch(/^\+ +image: ghcr\.io\/shop-example\/catalog:1\.8\.3$/m);
    expect(reply.text).not.toMatch(/resourceVersion|managedFields|^\s*status:/m);
    expect(reply.structured).toMatchObject({ application: "shop", file: "shop/deployment-catalog.yaml" });
  });

  it("writes unified diffs that patch(1) would accept", () => {
    const before = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n";
    const after = "a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nk\n";
    expect(unifiedDiff(before, after, "a/x", "b/x")).toBe(
      "--- a/x\n+++ b/x\n@@ -1,5 +1,5 @@\n a\n-b\n+B\n c\n d\n e\n@@ -8,3 +8,4 @@\n h\n i\n j\n+k\n",
    );
    expect(unifiedDiff(before, before, "a/x", "b/x")).toBe("");
  });
});
