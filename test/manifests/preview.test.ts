import { request as httpsRequest, type RequestOptions } from "node:https";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import type { KubeConfig } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APPLY_KINDS, applyObjectPath, type ApplyKind } from "../../core/actions/apply-kinds.ts";
import { DEFAULT_PREVIEW_IDENTITY } from "../../core/config/config.ts";
import { KubeApiError } from "../../core/kube/errors.ts";
import { PREVIEW_POLICY_NAME, createPreviewClient, type PreviewClient } from "../../core/kube/preview.ts";
import { createLogger } from "../../core/observability/logger.ts";
import { loadOpenBaoRoles } from "../../core/identity/openbao-roles.ts";
import { READER_ACCOUNT, READER_NAMESPACE, readerKubeConfig } from "../mcp/harness.ts";
import { PREVIEW_ACCOUNT, unguardedPreviewAccount, waitForUsablePreview } from "../helpers/preview.ts";
import { adminKubeConfig, deleteNamespace, freshNamespace, SEED } from "../helpers/testenv.ts";
import { MANIFESTS_DIR } from "./kustomize.ts";

/**
 * The dry-run-only preview identity (manifests/base/rbac/deputy-preview*.yaml)
 * against the real API server: the MCP server's read identity impersonates
 * the preview account; every real write that account sends is refused by the
 * admission policy, and the same request as a dry run is answered. The read
 * identity itself still cannot write. Every kind apply_manifest may change is
 * readable by deputy-reader and dry-runnable by the preview account.
 */

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
type Doc = {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: Rule[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
  spec?: Record<string, unknown>;
};

function shipped(file: string): Doc[] {
  return parseAllDocuments(readFileSync(join(MANIFESTS_DIR, "base", file), "utf8"))
    .map((doc) => doc.toJS() as Doc | null)
    .filter((doc): doc is Doc => doc !== null);
}

function grants(rules: Rule[], group: string, resource: string, verb: string): boolean {
  return rules.some(
    (rule) =>
      rule.apiGroups.includes(group) &&
      rule.resources.includes(resource) &&
      rule.verbs.includes(verb) &&
      rule.resourceNames === undefined,
  );
}

const previewDocs = shipped("rbac/deputy-preview.yaml");
const guardDocs = shipped("rbac/deputy-preview-guard.yaml");
const previewRole = previewDocs.find(
  (d) => d.kind === "ClusterRole" && d.metadata.name === "deputy-preview",
)!;
const readerRole = shipped("rbac/deputy-reader.yaml").find((d) => d.kind === "ClusterRole")!;

function groupOf(apiVersion: string): string {
  return apiVersion.includes("/") ? apiVersion.split("/")[0]! : "";
}

describe("the shipped preview manifests", () => {
  it("let the preview account send every write an action type's role may send (reads are the read identity's)", () => {
    const roles = loadOpenBaoRoles();
    const writes = new Set(["create", "update", "patch", "delete"]);
    for (const role of roles.secretsEngine.roles) {
      for (const rule of role.rules) {
        for (const group of rule.apiGroups)
          for (const resource of rule.resources)
            for (const verb of rule.verbs.filter((v) => writes.has(v)))
              expect(
                grants(previewRole.rules!, group, resource, verb),
                `${role.name}: ${verb} ${group}/${resource}`,
              ).toBe(true);
      }
    }
  });

  it("never give the preview account Secrets, RBAC, impersonation, exec or wildcards", () => {
    for (const rule of previewRole.rules!) {
      expect(rule.apiGroups).not.toContain("*");
      expect(rule.apiGroups).not.toContain("rbac.authorization.k8s.io");
      expect(rule.verbs).not.toContain("*");
      for (const verb of ["impersonate", "escalate", "bind", "update", "deletecollection"])
        expect(rule.verbs).not.toContain(verb);
      for (const resource of ["secrets", "serviceaccounts", "pods/exec", "pods/attach", "*"])
        expect(rule.resources).not.toContain(resource);
    }
  });

  it("let deputy-mcp impersonate the preview account and nothing else", () => {
    const role = previewDocs.find((d) => d.kind === "Role")!;
    expect(role.metadata.namespace).toBe(PREVIEW_ACCOUNT.namespace);
    expect(role.rules).toEqual([
      {
        apiGroups: [""],
        resources: ["serviceaccounts"],
        verbs: ["impersonate"],
        resourceNames: [PREVIEW_ACCOUNT.name],
      },
    ]);
    const binding = previewDocs.find((d) => d.kind === "RoleBinding")!;
    expect(binding.roleRef).toMatchObject({ kind: "Role", name: role.metadata.name });
    expect(binding.subjects).toEqual([
      { kind: "ServiceAccount", name: "deputy-mcp", namespace: "deputy-system" },
    ]);
  });

  it("refuse, failing closed, every operation of exactly the default preview identity on every resource and subresource unless it is a dry run", () => {
    const policy = guardDocs.find((d) => d.kind === "ValidatingAdmissionPolicy")!;
    const binding = guardDocs.find((d) => d.kind === "ValidatingAdmissionPolicyBinding")!;
    expect(policy.metadata.name).toBe(PREVIEW_POLICY_NAME);
    expect(binding.spec).toEqual({ policyName: PREVIEW_POLICY_NAME, validationActions: ["Deny"] });
    expect(policy.spec).toMatchObject({
      failurePolicy: "Fail",
      matchConstraints: {
        resourceRules: [
          {
            apiGroups: ["*"],
            apiVersions: ["*"],
            operations: ["CREATE", "UPDATE", "DELETE", "CONNECT"],
            resources: ["*/*"],
          },
        ],
      },
      matchConditions: [{ expression: `request.userInfo.username == '${DEFAULT_PREVIEW_IDENTITY}'` }],
      validations: [{ expression: "request.dryRun == true" }],
    });
  });

  it("let deputy-reader get, list and watch every kind apply_manifest may change", () => {
    for (const [kind, { apiVersion, resource }] of Object.entries(APPLY_KINDS)) {
      for (const verb of ["get", "list", "watch"])
        expect(grants(readerRole.rules!, groupOf(apiVersion), resource, verb), `${verb} ${kind}`).toBe(true);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// On the real API server.

interface Answer {
  status: number;
  message: string;
  body: Record<string, unknown>;
  warnings: string[];
}

/** One raw request with `kc`'s credentials and any extra headers (impersonation). */
async function call(
  kc: KubeConfig,
  method: string,
  path: string,
  options: { body?: unknown; contentType?: string; headers?: Record<string, string | string[]> } = {},
): Promise<Answer> {
  const server = new URL(kc.getCurrentCluster()!.server);
  const request: RequestOptions = {
    method,
    hostname: server.hostname,
    port: server.port,
    path,
    headers: { accept: "application/json", "content-type": options.contentType ?? "application/json" },
  };
  await kc.applyToHTTPSOptions(request);
  request.headers = { ...request.headers, ...options.headers };
  return new Promise((resolve, reject) => {
    const req = httpsRequest(request, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let body: Record<string, unknown> = {};
        try {
          body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
        } catch {
          body = { message: text };
        }
        resolve({
          status: res.statusCode ?? 0,
          message: typeof body.message === "string" ? body.message : "",
          body,
          warnings: res.headersDistinct.warning ?? [],
        });
      });
    });
    req.on("error", reject);
    if (options.body !== undefined)
      req.write(typeof options.body === "string" ? options.body : JSON.stringify(options.body));
    req.end();
  });
}

const silent = new Writable({
  write(_chunk, _encoding, callback) {
    callback();
  },
});
const logger = createLogger({ level: "silent", destination: silent });
const asPreview = { "impersonate-user": DEFAULT_PREVIEW_IDENTITY };
const refusedByPolicy = new RegExp(
  `ValidatingAdmissionPolicy '${PREVIEW_POLICY_NAME}' with binding '${PREVIEW_POLICY_NAME}' denied request`,
);

let admin: KubeConfig;
let reader: KubeConfig;
let ns: string;
let preview: PreviewClient;
const node = SEED.readyNodes[0];
const nodeLabel = `preview-test-${randomBytes(3).toString("hex")}`;

function deployment(name: string, image = "registry.example.com/web:1"): Record<string, unknown> {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: ns },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: "web", image }] },
      },
    },
  };
}

describe("on the real API server", () => {
  beforeAll(async () => {
    admin = adminKubeConfig();
    reader = await readerKubeConfig();
    await waitForUsablePreview(reader);
    ns = await freshNamespace("preview");
    const created = [
      await call(admin, "POST", `/apis/apps/v1/namespaces/${ns}/deployments`, { body: deployment("web") }),
      await call(admin, "POST", `/api/v1/namespaces/${ns}/pods`, {
        body: {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "victim", namespace: ns },
          spec: { containers: [{ name: "app", image: "registry.example.com/app:1" }] },
        },
      }),
    ];
    for (const answer of created) expect(answer.status, answer.message).toBe(201);
    preview = createPreviewClient({
      kubeConfig: reader,
      identity: DEFAULT_PREVIEW_IDENTITY,
      probeNamespace: PREVIEW_ACCOUNT.namespace,
      logger,
    });
    expect((await preview.check()).usable, preview.health().sentence).toBe(true);
  });

  afterAll(async () => {
    preview?.close();
    if (admin) {
      // Only if a refusal failed: the label must not outlive the test.
      await call(admin, "PATCH", `/api/v1/nodes/${node}`, {
        body: { metadata: { labels: { [`deputy.dev/${nodeLabel}`]: null } } },
        contentType: "application/merge-patch+json",
      });
    }
    if (ns) await deleteNamespace(ns);
  });

  interface WriteCase {
    method: string;
    path: () => string;
    body: () => unknown;
    contentType: string;
    query?: string;
  }

  const WRITES: Array<[string, WriteCase]> = [
    [
      "a strategic-merge patch of a Deployment (restart)",
      {
        method: "PATCH",
        path: () => `/apis/apps/v1/namespaces/${ns}/deployments/web`,
        body: () => ({
          spec: { template: { metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": "now" } } } },
        }),
        contentType: "application/strategic-merge-patch+json",
      },
    ],
    [
      "a JSON patch of a Deployment (rollback)",
      {
        method: "PATCH",
        path: () => `/apis/apps/v1/namespaces/${ns}/deployments/web`,
        body: () => [{ op: "replace", path: "/spec/replicas", value: 3 }],
        contentType: "application/json-patch+json",
      },
    ],
    [
      "a server-side apply of a Deployment",
      {
        method: "PATCH",
        path: () => `/apis/apps/v1/namespaces/${ns}/deployments/web`,
        body: () => deployment("web", "registry.example.com/web:2"),
        contentType: "application/apply-patch+yaml",
        query: "fieldManager=deputy&force=true",
      },
    ],
    [
      "a create of a Deployment",
      {
        method: "POST",
        path: () => `/apis/apps/v1/namespaces/${ns}/deployments`,
        body: () => deployment("new-web"),
        contentType: "application/json",
      },
    ],
    [
      "an eviction (pods/eviction)",
      {
        method: "POST",
        path: () => `/api/v1/namespaces/${ns}/pods/victim/eviction`,
        body: () => ({
          apiVersion: "policy/v1",
          kind: "Eviction",
          metadata: { name: "victim", namespace: ns },
        }),
        contentType: "application/json",
      },
    ],
    [
      "a delete of a pod",
      {
        method: "DELETE",
        path: () => `/api/v1/namespaces/${ns}/pods/victim`,
        body: () => ({ apiVersion: "v1", kind: "DeleteOptions" }),
        contentType: "application/json",
      },
    ],
    [
      "a patch of a node (cordon-like)",
      {
        method: "PATCH",
        path: () => `/api/v1/nodes/${node}`,
        body: () => ({ metadata: { labels: { [`deputy.dev/${nodeLabel}`]: "x" } } }),
        contentType: "application/merge-patch+json",
      },
    ],
  ];

  describe("the preview account on the real API server", () => {
    it.each(WRITES)(
      "is refused by admission for %s for real, and answered as a dry run",
      async (_what, write) => {
        const path = write.path();
        const query = write.query ? `?${write.query}` : "";
        const real = await call(reader, write.method, `${path}${query}`, {
          body: write.body(),
          contentType: write.contentType,
          headers: asPreview,
        });
        expect(real.status, real.message).toBe(403);
        expect(real.message).toMatch(refusedByPolicy);

        const dry = await call(
          reader,
          write.method,
          `${path}?${write.query ? `${write.query}&` : ""}dryRun=All`,
          {
            body: write.body(),
            contentType: write.contentType,
            headers: asPreview,
          },
        );
        expect([200, 201], `${dry.status}: ${dry.message}`).toContain(dry.status);
      },
    );

    it("changed nothing with any of those writes", async () => {
      const web = await call(admin, "GET", `/apis/apps/v1/namespaces/${ns}/deployments/web`);
      const spec = web.body.spec as {
        replicas: number;
        template: { spec: { containers: { image: string }[] } };
      };
      expect(spec.replicas).toBe(1);
      expect(spec.template.spec.containers[0]!.image).toBe("registry.example.com/web:1");
      expect((web.body.metadata as { generation: number }).generation).toBe(1);
      expect((await call(admin, "GET", `/apis/apps/v1/namespaces/${ns}/deployments/new-web`)).status).toBe(
        404,
      );
      const victim = await call(admin, "GET", `/api/v1/namespaces/${ns}/pods/victim`);
      expect(victim.status).toBe(200);
      expect((victim.body.metadata as { deletionTimestamp?: string }).deletionTimestamp).toBeUndefined();
      const labels = (
        (await call(admin, "GET", `/api/v1/nodes/${node}`)).body.metadata as {
          labels: Record<string, string>;
        }
      ).labels;
      expect(labels[`deputy.dev/${nodeLabel}`]).toBeUndefined();
    });

    it("is what the API server sees: the impersonated service account, with its groups", async () => {
      const review = await call(reader, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {
        body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
        headers: asPreview,
      });
      expect(review.status, review.message).toBe(201);
      const user = (review.body.status as { userInfo: { username: string; groups: string[] } }).userInfo;
      expect(user.username).toBe(DEFAULT_PREVIEW_IDENTITY);
      expect(user.groups).toEqual(
        expect.arrayContaining([
          "system:serviceaccounts",
          `system:serviceaccounts:${PREVIEW_ACCOUNT.namespace}`,
        ]),
      );
    });
  });

  describe("the read identity on the real API server", () => {
    it("still cannot write, not even a dry run, by itself", async () => {
      for (const [what, write] of WRITES) {
        const answer = await call(reader, write.method, `${write.path()}?dryRun=All`, {
          body: write.body(),
          contentType: write.contentType,
        });
        expect(answer.status, what).toBe(403);
        expect(answer.message, what).toMatch(/cannot (patch|create|delete) resource/);
      }
    });

    it("cannot impersonate anyone but the preview account, nor add groups to it", async () => {
      const path = `/apis/apps/v1/namespaces/${ns}/deployments/web?dryRun=All`;
      const body = { metadata: { labels: { x: "y" } } };
      const contentType = "application/merge-patch+json";
      const attempts: Record<string, string>[] = [
        { "impersonate-user": `system:serviceaccount:${ns}:default` },
        { "impersonate-user": `system:serviceaccount:${PREVIEW_ACCOUNT.namespace}:deputy-executor` },
        { "impersonate-user": "system:admin" },
        { "impersonate-user": DEFAULT_PREVIEW_IDENTITY, "impersonate-group": "system:masters" },
        { "impersonate-user": DEFAULT_PREVIEW_IDENTITY, "impersonate-extra-scopes": "x" },
      ];
      for (const headers of attempts) {
        const answer = await call(reader, "PATCH", path, { body, contentType, headers });
        expect(answer.status, JSON.stringify(headers)).toBe(403);
        expect(answer.message, JSON.stringify(headers)).toMatch(/cannot impersonate/);
      }
    });
  });

  /** One small valid object of each kind apply_manifest may change (a new kind fails to compile here). */
  function applyObject(kind: ApplyKind, name: string): Record<string, unknown> {
    const labels = { app: name };
    const pod = {
      metadata: { labels },
      spec: { containers: [{ name: "app", image: "registry.example.com/app:1" }] },
    };
    const job = { template: { ...pod, spec: { ...pod.spec, restartPolicy: "Never" } } };
    const specs: Record<ApplyKind, Record<string, unknown>> = {
      ConfigMap: {},
      Service: { selector: labels, ports: [{ port: 80 }] },
      Deployment: { selector: { matchLabels: labels }, template: pod },
      StatefulSet: { selector: { matchLabels: labels }, serviceName: name, template: pod },
      DaemonSet: { selector: { matchLabels: labels }, template: pod },
      Job: job,
      CronJob: { schedule: "*/5 * * * *", jobTemplate: { spec: job } },
      HorizontalPodAutoscaler: {
        scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "web" },
        minReplicas: 1,
        maxReplicas: 2,
      },
      PodDisruptionBudget: { minAvailable: 1, selector: { matchLabels: labels } },
      Ingress: { defaultBackend: { service: { name, port: { number: 80 } } } },
    };
    const object: Record<string, unknown> = {
      apiVersion: APPLY_KINDS[kind].apiVersion,
      kind,
      metadata: { name, namespace: ns, labels: { ...labels } },
    };
    if (kind === "ConfigMap") object.data = { key: "value" };
    else object.spec = specs[kind];
    return object;
  }

  describe("every kind apply_manifest may change", () => {
    const kinds = Object.keys(APPLY_KINDS) as ApplyKind[];

    it.each(kinds)(
      "%s: deputy-reader reads it; the preview account dry-runs its apply and is refused for real",
      async (kind) => {
        const name = `apply-${kind.toLowerCase()}`;
        const created = await call(admin, "POST", applyObjectPath(kind, ns), {
          body: applyObject(kind, name),
        });
        expect(created.status, created.message).toBe(201);

        const got = await call(reader, "GET", applyObjectPath(kind, ns, name));
        expect(got.status, got.message).toBe(200);
        const listed = await call(reader, "GET", applyObjectPath(kind, ns));
        expect(listed.status, listed.message).toBe(200);
        expect((listed.body.items as unknown[]).length).toBeGreaterThanOrEqual(1);

        const changed = applyObject(kind, name);
        (changed.metadata as { labels: Record<string, string> }).labels.changed = "yes";
        for (const [target, object] of [
          [name, changed],
          [`${name}-new`, applyObject(kind, `${name}-new`)],
        ] as const) {
          const path = applyObjectPath(kind, ns, target);
          const answer = await preview.dryRun({
            method: "PATCH",
            path,
            body: object,
            contentType: "application/apply-patch+yaml",
            query: { fieldManager: "deputy", force: "true" },
          });
          expect([200, 201]).toContain(answer.status);
          expect((answer.object as { metadata: { name: string } }).metadata.name).toBe(target);
          const real = await call(reader, "PATCH", `${path}?fieldManager=deputy&force=true`, {
            body: object,
            contentType: "application/apply-patch+yaml",
            headers: asPreview,
          });
          expect(real.status, `${kind} ${target}: ${real.message}`).toBe(403);
          expect(real.message).toMatch(refusedByPolicy);
        }
        expect((await call(admin, "GET", applyObjectPath(kind, ns, `${name}-new`))).status).toBe(404);
        const live = await call(admin, "GET", applyObjectPath(kind, ns, name));
        expect((live.body.metadata as { labels: Record<string, string> }).labels.changed).toBeUndefined();
      },
    );
  });

  describe("the preview client on the real API server", () => {
    it("answers with the object after merge and defaulting, as the API server would store it", async () => {
      const answer = await preview.dryRun({
        method: "PATCH",
        path: `/apis/apps/v1/namespaces/${ns}/deployments/web`,
        body: deployment("web", "registry.example.com/web:2"),
        contentType: "application/apply-patch+yaml",
        query: { fieldManager: "deputy", force: "true" },
      });
      expect(answer.status).toBe(200);
      const result = answer.object as {
        metadata: { uid: string; generation: number };
        spec: { strategy: { type: string }; template: { spec: { containers: Record<string, unknown>[] } } };
      };
      expect(result.spec.template.spec.containers[0]).toMatchObject({
        image: "registry.example.com/web:2",
        terminationMessagePath: "/dev/termination-log",
        imagePullPolicy: "IfNotPresent",
      });
      expect(result.spec.strategy.type).toBe("RollingUpdate");
      expect(result.metadata.generation).toBe(2);
      const live = await call(admin, "GET", `/apis/apps/v1/namespaces/${ns}/deployments/web`);
      expect((live.body.metadata as { generation: number }).generation).toBe(1);
    });

    it("returns the API server's warnings: Pod Security in warn mode, for a privileged pod template", async () => {
      const warned = await freshNamespace("preview-warn");
      try {
        const labelled = await call(admin, "PATCH", `/api/v1/namespaces/${warned}`, {
          body: { metadata: { labels: { "pod-security.kubernetes.io/warn": "restricted" } } },
          contentType: "application/merge-patch+json",
        });
        expect(labelled.status, labelled.message).toBe(200);
        const privileged = deployment("privileged");
        (privileged.metadata as { namespace: string }).namespace = warned;
        const template = (
          privileged.spec as { template: { spec: { containers: Record<string, unknown>[] } } }
        ).template;
        template.spec.containers[0]!.securityContext = { privileged: true };
        const answer = await preview.dryRun({
          method: "PATCH",
          path: `/apis/apps/v1/namespaces/${warned}/deployments/privileged`,
          body: privileged,
          contentType: "application/apply-patch+yaml",
          query: { fieldManager: "deputy" },
        });
        expect(answer.status).toBe(201);
        expect(answer.warnings.join("\n")).toMatch(
          /would violate PodSecurity "restricted:latest": privileged/,
        );
        expect(
          (await call(admin, "GET", `/apis/apps/v1/namespaces/${warned}/deployments/privileged`)).status,
        ).toBe(404);
      } finally {
        await deleteNamespace(warned);
      }
    });

    it("throws the API server's refusal of a dry run with its message: an immutable field", async () => {
      const moved = deployment("web");
      (moved.spec as { selector: unknown }).selector = { matchLabels: { app: "elsewhere" } };
      const error = await preview
        .dryRun({
          method: "PATCH",
          path: `/apis/apps/v1/namespaces/${ns}/deployments/web`,
          body: moved,
          contentType: "application/apply-patch+yaml",
          query: { fieldManager: "deputy", force: "true" },
        })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KubeApiError);
      expect((error as KubeApiError).status).toBe(422);
      expect((error as KubeApiError).message).toMatch(/spec\.selector: .*field is immutable/);
    });

    it("is unusable, saying why loudly, for an account whose real writes no admission policy refuses, and its check changes nothing", async () => {
      const unguarded = await unguardedPreviewAccount(
        { namespace: ns, name: "unguarded-preview" },
        { namespace: READER_NAMESPACE, name: READER_ACCOUNT },
      );
      const client = createPreviewClient({
        kubeConfig: reader,
        identity: unguarded,
        probeNamespace: ns,
        logger,
      });
      try {
        const health = await client.check();
        expect(health.usable).toBe(false);
        expect(health.sentence).toBe(
          `DANGER: Proposals cannot be previewed: a real write by the preview account ${unguarded} was NOT refused by admission ` +
            `(its eviction of pod ${ns}/deputy-preview-probe reached the API server and changed nothing only because that pod does not exist). ` +
            `The admission policy ${PREVIEW_POLICY_NAME} is missing, unbound or does not name this account: apply manifests/base/rbac/deputy-preview-guard.yaml.`,
        );
        await expect(
          client.dryRun({ method: "DELETE", path: `/api/v1/namespaces/${ns}/pods/victim` }),
        ).rejects.toThrow(/DANGER/);
        // What the policy stands between: the same role without it writes for real.
        const real = await call(reader, "POST", `/api/v1/namespaces/${ns}/configmaps`, {
          body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "written-for-real" } },
          headers: { "impersonate-user": unguarded },
        });
        expect(real.status, real.message).toBe(201);
      } finally {
        client.close();
      }
    });
  });
});
