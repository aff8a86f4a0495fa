import { join } from "node:path";
import { CoreV1Api, AppsV1Api, ApiException, KubeConfig } from "@kubernetes/client-node";
import { beforeAll, describe, expect, it } from "vitest";
import { adminKubeConfig, loadTestEnv, mintServiceAccountToken } from "../helpers/testenv.ts";
import { MANIFESTS_DIR, podTemplate, renderKustomization, type KubeObject } from "./kustomize.ts";
import { RESOURCES, api, apply, applyFoundation, isBuiltIn, type ApiAnswer } from "./support.ts";

/**
 * The manifests against the real local kube-apiserver: every built-in object
 * passes server-side dry-run; the namespaces' Pod Security labels make the
 * API server's own admission accept our pods and reject non-compliant ones;
 * after the RBAC is applied, SubjectAccessReviews and real service-account
 * tokens prove who can do what.
 */

/** The pod a workload's controller would create (a StatefulSet's claims become its PVC volumes). */
function podFrom(workload: KubeObject, name: string): KubeObject {
  const template = podTemplate(workload)!;
  const spec = structuredClone(template.spec) as { volumes?: unknown[] };
  const claims =
    (workload.spec as { volumeClaimTemplates?: Array<{ metadata: { name: string } }> })
      .volumeClaimTemplates ?? [];
  for (const claim of claims) {
    spec.volumes = [
      ...(spec.volumes ?? []),
      {
        name: claim.metadata.name,
        persistentVolumeClaim: { claimName: `${claim.metadata.name}-${workload.metadata.name}-0` },
      },
    ];
  }
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: workload.metadata.namespace,
      labels: (template.metadata as { labels: Record<string, string> }).labels,
    },
    spec,
  };
}

function createPodDryRun(kc: KubeConfig, pod: KubeObject): Promise<ApiAnswer> {
  return api(kc, "POST", `/api/v1/namespaces/${pod.metadata.namespace}/pods?dryRun=All`, pod);
}

const dev = renderKustomization(join(MANIFESTS_DIR, "overlays", "dev"));
const prod = renderKustomization(join(MANIFESTS_DIR, "overlays", "prod"));
let admin: KubeConfig;

beforeAll(async () => {
  admin = adminKubeConfig();
  await applyFoundation(admin, dev);
});

describe.each([
  ["dev", dev],
  ["prod", prod],
] as const)("%s overlay: server-side dry-run", (_overlay, objects) => {
  const builtIn = objects.filter(isBuiltIn);

  it("ships only kinds we know, and all but Istio and External Secrets are built in", () => {
    for (const object of builtIn) expect(RESOURCES[object.kind], object.kind).toBeDefined();
    const custom = objects.filter((o) => !isBuiltIn(o)).map((o) => o.apiVersion.split("/")[0]);
    expect(new Set(custom)).toEqual(
      new Set(
        _overlay === "prod"
          ? ["security.istio.io", "networking.istio.io", "external-secrets.io"]
          : ["security.istio.io", "networking.istio.io"],
      ),
    );
  });

  it.each(builtIn.map((o) => [`${o.kind} ${o.metadata.namespace ?? ""}/${o.metadata.name}`, o] as const))(
    "%s is accepted, with no Pod Security warning",
    async (_name, object) => {
      const answer = await apply(admin, object);
      expect([200, 201], JSON.stringify(answer.body)).toContain(answer.status);
      expect(answer.warnings.filter((w) => /PodSecurity|violate/i.test(w))).toEqual([]);
    },
  );
});

describe("Pod Security admission in Deputy's namespaces", () => {
  const workloads = prod.filter((o) => podTemplate(o));

  it.each(workloads.map((w) => [w.metadata.name, w] as const))(
    "accepts a pod of %s",
    async (name, workload) => {
      const answer = await createPodDryRun(admin, podFrom(workload, `psa-${name}`));
      expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    },
  );

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each case edits a different corner of the pod spec
  const violations: Array<[string, (spec: Record<string, any>) => void]> = [
    [
      "privileged",
      (spec) => {
        spec.containers[0].securityContext.privileged = true;
        spec.containers[0].securityContext.allowPrivilegeEscalation = true;
      },
    ],
    [
      "NET_ADMIN like istio-init",
      (spec) =>
        (spec.containers[0].securityContext.capabilities = { add: ["NET_ADMIN", "NET_RAW"], drop: ["ALL"] }),
    ],
    [
      "running as root",
      (spec) => {
        spec.securityContext.runAsNonRoot = false;
        spec.containers[0].securityContext.runAsNonRoot = false;
        spec.containers[0].securityContext.runAsUser = 0;
      },
    ],
    ["privilege escalation", (spec) => (spec.containers[0].securityContext.allowPrivilegeEscalation = true)],
    [
      "no seccomp profile",
      (spec) => {
        delete spec.securityContext.seccompProfile;
        delete spec.containers[0].securityContext.seccompProfile;
      },
    ],
    ["host network", (spec) => (spec.hostNetwork = true)],
    ["hostPath volume", (spec) => spec.volumes.push({ name: "host", hostPath: { path: "/" } })],
  ];

  it.each(violations)("rejects a pod with %s, in both namespaces", async (what, mutate) => {
    for (const name of ["deputy-mcp", "deputy-bot"]) {
      const pod = podFrom(
        workloads.find((w) => w.metadata.name === name)!,
        `psa-bad-${name}`,
      );
      mutate(pod.spec as Record<string, unknown>);
      const answer = await createPodDryRun(admin, pod);
      expect(answer.status, `${what} in ${pod.metadata.namespace}`).toBe(403);
      expect(String(answer.body.message)).toMatch(/violates PodSecurity "restricted:latest"/);
    }
  });

  it("a Deployment whose template is not compliant draws a PodSecurity warning at dry-run (so 'no warning' means something)", async () => {
    const deployment = structuredClone(
      prod.find((o) => o.kind === "Deployment" && o.metadata.name === "deputy-mcp")!,
    );
    const container = (
      podTemplate(deployment)!.spec as { containers: Array<{ securityContext: Record<string, unknown> }> }
    ).containers[0]!;
    container.securityContext.allowPrivilegeEscalation = true;
    const answer = await apply(admin, deployment);
    expect([200, 201]).toContain(answer.status);
    expect(answer.warnings.join("\n")).toMatch(
      /would violate PodSecurity \\?"restricted:latest\\?": allowPrivilegeEscalation/,
    );
  });

  it("the same privileged pod is admitted where restricted is not enforced (so the rejection is the label's doing)", async () => {
    const pod = podFrom(
      workloads.find((w) => w.metadata.name === "deputy-mcp")!,
      "psa-control",
    );
    const container = (pod.spec as { containers: Array<{ securityContext: Record<string, unknown> }> })
      .containers[0]!;
    container.securityContext.privileged = true;
    container.securityContext.allowPrivilegeEscalation = true;
    pod.metadata.namespace = "default";
    const answer = await createPodDryRun(admin, pod);
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  });
});

type Check = [verb: string, resource: string, namespace?: string, group?: string, subresource?: string];

async function can(
  serviceAccount: string,
  [verb, resource, namespace, group, subresource]: Check,
): Promise<boolean> {
  const [ns, name] = serviceAccount.split("/");
  const answer = await api(admin, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
    apiVersion: "authorization.k8s.io/v1",
    kind: "SubjectAccessReview",
    spec: {
      user: `system:serviceaccount:${ns}:${name}`,
      groups: ["system:serviceaccounts", `system:serviceaccounts:${ns}`, "system:authenticated"],
      resourceAttributes: { verb, resource, namespace, group: group ?? "", subresource },
    },
  });
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  return (answer.body.status as { allowed: boolean }).allowed;
}

const READS: Check[] = [
  ...["pods", "events", "services", "endpoints", "configmaps"].flatMap((r): Check[] => [
    ["get", r, "shop"],
    ["list", r, "shop"],
    ["watch", r, "shop"],
    ["list", r],
  ]),
  ["get", "pods", "shop", "", "log"],
  ["list", "nodes"],
  ["get", "nodes"],
  ["list", "namespaces"],
  ...["deployments", "replicasets", "statefulsets", "daemonsets"].flatMap((r): Check[] => [
    ["get", r, "shop", "apps"],
    ["list", r, "shop", "apps"],
    ["watch", r, "", "apps"],
  ]),
  ["list", "jobs", "shop", "batch"],
  // Every kind apply_manifest may change is read live first (test/manifests/preview.test.ts has them all).
  ["get", "cronjobs", "shop", "batch"],
  ["get", "horizontalpodautoscalers", "shop", "autoscaling"],
  ["get", "ingresses", "shop", "networking.k8s.io"],
  ["list", "poddisruptionbudgets", "shop", "policy"],
  ["list", "events", "shop", "events.k8s.io"],
];

const WRITES: Check[] = [
  ["create", "pods", "shop"],
  ["delete", "pods", "shop"],
  ["deletecollection", "pods", "shop"],
  ["create", "pods", "shop", "", "eviction"],
  ["create", "pods", "shop", "", "exec"],
  ["patch", "deployments", "shop", "apps"],
  ["update", "deployments", "shop", "apps"],
  ["update", "deployments", "shop", "apps", "scale"],
  ["delete", "deployments", "shop", "apps"],
  ["create", "deployments", "shop", "apps"],
  ["patch", "statefulsets", "shop", "apps"],
  ["patch", "nodes"],
  ["update", "nodes"],
  ["delete", "nodes"],
  ["update", "configmaps", "shop"],
  ["create", "serviceaccounts", "shop", "", "token"],
  ["create", "rolebindings", "shop", "rbac.authorization.k8s.io"],
  ["create", "clusterrolebindings", "", "rbac.authorization.k8s.io"],
  ["impersonate", "serviceaccounts", "shop"],
  ["create", "namespaces"],
];
const SECRETS: Check[] = [
  ["get", "secrets", "shop"],
  ["list", "secrets", "shop"],
  ["list", "secrets"],
  ["watch", "secrets"],
  ["get", "secrets", "deputy-system"],
];

describe("RBAC, proven by SubjectAccessReviews", () => {
  it("deputy-reader (the MCP server) can read everything the tools need", async () => {
    for (const check of READS)
      expect(await can("deputy-system/deputy-mcp", check), check.join(" ")).toBe(true);
  });

  it("deputy-reader cannot write, and cannot read Secrets", async () => {
    for (const check of [...WRITES, ...SECRETS]) {
      expect(await can("deputy-system/deputy-mcp", check), check.join(" ")).toBe(false);
    }
  });

  it("the executor's and the bot's own accounts can neither write nor read Secrets", async () => {
    for (const account of [
      "deputy-system/deputy-executor",
      "deputy-agent/deputy-bot",
      "deputy-system/deputy-redis",
    ]) {
      for (const check of [...WRITES, ...SECRETS])
        expect(await can(account, check), `${account}: ${check.join(" ")}`).toBe(false);
      expect(await can(account, ["list", "pods", "shop"]), `${account} reads nothing either`).toBe(false);
    }
  });

  it("OpenBao manages generated accounts only where Deputy may change things, and never reads Secrets or runs workloads", async () => {
    const openbao = "openbao/openbao";
    for (const ns of ["shop", "deputy-jit"]) {
      expect(await can(openbao, ["create", "serviceaccounts", ns]), ns).toBe(true);
      expect(await can(openbao, ["create", "serviceaccounts", ns, "", "token"]), ns).toBe(true);
      expect(await can(openbao, ["create", "rolebindings", ns, "rbac.authorization.k8s.io"]), ns).toBe(true);
    }
    for (const ns of ["kube-system", "default", "deputy-system", "deputy-agent"]) {
      expect(await can(openbao, ["create", "serviceaccounts", ns]), ns).toBe(false);
      expect(await can(openbao, ["create", "serviceaccounts", ns, "", "token"]), ns).toBe(false);
      expect(await can(openbao, ["create", "roles", ns, "rbac.authorization.k8s.io"]), ns).toBe(false);
      expect(await can(openbao, ["create", "rolebindings", ns, "rbac.authorization.k8s.io"]), ns).toBe(false);
    }
    // Logins are reviewed with the client's own token, so OpenBao needs no TokenReview right;
    // test/executor/openbao-privilege.test.ts proves that on an account of its own (this shared
    // account may still hold a binding from an environment set up before that change).
    // Cluster-wide escalate or bind would let OpenBao bind anyone, itself included, to cluster-admin.
    for (const verb of ["escalate", "bind"]) {
      expect(await can(openbao, [verb, "clusterroles", "", "rbac.authorization.k8s.io"]), verb).toBe(false);
    }
    for (const check of [
      ...SECRETS,
      ["create", "pods", "shop"],
      ["create", "pods", "shop", "", "exec"],
      ["patch", "deployments", "shop", "apps"],
    ] as Check[]) {
      expect(await can(openbao, check), check.join(" ")).toBe(false);
    }
  });
});

describe("real service-account tokens", () => {
  function tokenKubeConfig(token: string): KubeConfig {
    const env = loadTestEnv();
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "testenv", server: env.server, caFile: env.caFile }],
      users: [{ name: "sa", token }],
      contexts: [{ name: "testenv", cluster: "testenv", user: "sa" }],
      currentContext: "testenv",
    });
    return kc;
  }
  async function status(promise: Promise<unknown>): Promise<number> {
    try {
      await promise;
      return 200;
    } catch (error) {
      if (error instanceof ApiException) return error.code;
      throw error;
    }
  }

  it("the MCP server's identity lists pods but gets 403 on Secrets and writes", async () => {
    const kc = tokenKubeConfig(await mintServiceAccountToken("deputy-system", "deputy-mcp"));
    const core = kc.makeApiClient(CoreV1Api);
    const apps = kc.makeApiClient(AppsV1Api);
    const pods = await core.listNamespacedPod({ namespace: "shop" });
    expect(pods.items.length).toBeGreaterThan(0);
    expect(await status(core.listNamespacedSecret({ namespace: "shop" }))).toBe(403);
    expect(
      await status(core.deleteNamespacedPod({ name: pods.items[0]!.metadata!.name!, namespace: "shop" })),
    ).toBe(403);
    expect(
      await status(
        apps.patchNamespacedDeploymentScale({
          name: "frontend",
          namespace: "shop",
          body: [{ op: "replace", path: "/spec/replicas", value: 5 }],
        }),
      ),
    ).toBe(403);
  });

  it("the executor's own token (audience openbao) can do nothing on the API server", async () => {
    // A real API server refuses the audience outright (401); the test API
    // server also accepts "openbao" for TokenReview, so there it is RBAC (403).
    const kc = tokenKubeConfig(
      await mintServiceAccountToken("deputy-system", "deputy-executor", { audience: "openbao" }),
    );
    const core = kc.makeApiClient(CoreV1Api);
    expect([401, 403]).toContain(await status(core.listNamespacedPod({ namespace: "shop" })));
    expect([401, 403]).toContain(await status(core.listNamespacedSecret({ namespace: "deputy-system" })));
  });
});
