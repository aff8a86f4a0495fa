import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { APPLY_KINDS } from "../../../core/actions/apply-kinds.ts";
import {
  KINDS_WITH_OBJECT_RISKS,
  objectRisks,
  podTemplateChangeOf,
  type ObjectChange,
} from "../../../core/actions/object-risk.ts";
import { podSpecOfWorkload } from "../../../core/actions/pod-spec.ts";

type Json = Record<string, unknown>;

function change(kind: string, after: Json, before?: Json): ObjectChange {
  return { kind, workload: `${kind} shop/x`, after, ...(before === undefined ? {} : { before }) };
}
function flags(c: ObjectChange): Record<string, string> {
  return Object.fromEntries(objectRisks(c).flags.map((flag) => [flag.rule, flag.message]));
}

describe("objectRisks covers every kind Deputy may apply", () => {
  it("has a rule set for each allowed kind without a pod template", () => {
    const withoutTemplate = Object.keys(APPLY_KINDS).filter(
      (kind) =>
        podSpecOfWorkload(kind, {
          spec: { template: { spec: {} }, jobTemplate: { spec: { template: { spec: {} } } } },
        }) === undefined,
    );
    expect(withoutTemplate.sort()).toEqual([...KINDS_WITH_OBJECT_RISKS].sort());
  });
});

describe("kinds without rules of their own", () => {
  it("get only the shared metadata checks, whatever the kind is called", () => {
    for (const kind of ["constructor", "toString", "__proto__", "Node", "Deployment"]) {
      expect(
        objectRisks(change(kind, { metadata: { name: "x" }, spec: { externalIPs: ["1.2.3.4"] } })),
      ).toEqual({
        refusals: [],
        flags: [],
      });
    }
  });
});

describe("Service", () => {
  const service = (spec: Json): Json => ({ metadata: { name: "web", namespace: "shop" }, spec });

  it("refuses externalIPs anywhere in the result (CVE-2020-8554)", () => {
    const result = objectRisks(
      change("Service", service({ selector: { app: "web" }, externalIPs: ["8.8.8.8"] })),
    );
    expect(result.refusals).toEqual([
      {
        rule: "service-external-ips",
        sentence:
          "Service shop/x sets externalIPs 8.8.8.8: every node would send traffic for those addresses to its pods, whoever owns them (CVE-2020-8554). Deputy never writes a Service with externalIPs; change it through Git.",
      },
    ]);
    // Set by someone else before: Deputy still does not write the object in that state.
    const kept = service({ selector: { app: "web" }, externalIPs: ["8.8.8.8"] });
    expect(objectRisks(change("Service", kept, kept)).refusals).toHaveLength(1);
    expect(objectRisks(change("Service", service({ externalIPs: [] }))).refusals).toEqual([]);
  });

  it("flags LoadBalancer and NodePort as exposure outside the cluster", () => {
    const lb = service({
      type: "LoadBalancer",
      selector: { app: "web" },
      ports: [{ port: 443, nodePort: 30443 }],
    });
    expect(
      flags(change("Service", lb, service({ type: "ClusterIP", selector: { app: "web" } })))[
        "service-exposure"
      ],
    ).toBe(
      "Service shop/x becomes type LoadBalancer (was ClusterIP): its pods are reachable from outside the cluster through a cloud load balancer, from any address, port(s) 443 (node port 30443).",
    );
    const ranged = service({
      type: "LoadBalancer",
      selector: { app: "web" },
      loadBalancerSourceRanges: ["10.0.0.0/8"],
    });
    expect(flags(change("Service", ranged))["service-exposure"]).toContain("from 10.0.0.0/8");
    expect(
      flags(change("Service", service({ type: "NodePort", selector: { app: "web" } })))["service-exposure"],
    ).toContain(
      "becomes type NodePort: its pods are reachable from outside the cluster on every node's address",
    );
    // Already a LoadBalancer: nothing new.
    expect(flags(change("Service", lb, lb))["service-exposure"]).toBeUndefined();
    expect(flags(change("Service", service({ selector: { app: "web" } })))).toEqual({});
  });

  it("flags traffic sent elsewhere: a new selector, none at all, or an ExternalName", () => {
    const before = service({ selector: { app: "web" } });
    expect(
      flags(change("Service", service({ selector: { app: "debug" } }), before))["service-redirect"],
    ).toBe("Service shop/x: its traffic now goes to the pods matching app=debug (was app=web).");
    expect(flags(change("Service", service({}), before))["service-redirect"]).toContain("it has no selector");
    expect(
      flags(change("Service", service({ type: "ExternalName", externalName: "evil.example.com" }), before))[
        "service-redirect"
      ],
    ).toBe("Service shop/x: clients of it are sent to evil.example.com (ExternalName).");
    expect(flags(change("Service", before, before))).toEqual({});
  });
});

describe("Ingress", () => {
  const ingress = (annotations: Json, spec: Json = {}): Json => ({
    metadata: { name: "web", namespace: "shop", annotations },
    spec,
  });

  it("refuses every snippet annotation (CVE-2021-25742)", () => {
    for (const key of [
      "nginx.ingress.kubernetes.io/configuration-snippet",
      "nginx.ingress.kubernetes.io/server-snippet",
      "nginx.ingress.kubernetes.io/auth-snippet",
      "nginx.ingress.kubernetes.io/modsecurity-snippet",
      "nginx.org/server-snippets",
      "nginx.org/location-snippets",
    ]) {
      const result = objectRisks(change("Ingress", ingress({ [key]: "return 200;" })));
      expect(result.refusals).toHaveLength(1);
      expect(result.refusals[0]?.rule).toBe("ingress-snippet");
      expect(result.refusals[0]?.sentence).toContain(
        `sets annotation ${key}: a snippet pastes arbitrary configuration`,
      );
    }
  });

  it("refuses a snippet under any annotation name, generated", () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z0-9.]{0,20}$/),
        fc.stringMatching(/^[a-z-]{0,10}$/),
        fc.constantFrom("snippet", "snippets", "Snippet"),
        (prefix, name, word) => {
          const key = `${prefix ? `${prefix}/` : ""}${name}${word}`;
          expect(objectRisks(change("Ingress", ingress({ [key]: "x" }))).refusals.map((r) => r.rule)).toEqual(
            ["ingress-snippet"],
          );
        },
      ),
    );
  });

  it("flags annotations that send requests or credentials elsewhere, when they change", () => {
    const after = ingress({
      "nginx.ingress.kubernetes.io/auth-url": "https://collector.example/steal",
      "nginx.ingress.kubernetes.io/rewrite-target": "/",
    });
    expect(flags(change("Ingress", after))["ingress-annotation"]).toBe(
      "Ingress shop/x sets nginx.ingress.kubernetes.io/auth-url: https://collector.example/steal (each request is first sent, with its credentials, to that URL).",
    );
    expect(flags(change("Ingress", after, after))["ingress-annotation"]).toBeUndefined();
    // Annotation keys are looked up as data, never as object properties.
    expect(flags(change("Ingress", ingress({ constructor: "x", toString: "y", __proto__: "z" })))).toEqual(
      {},
    );
  });

  it("flags new routes from outside the cluster and a changed ingress class", () => {
    const spec = {
      ingressClassName: "public",
      tls: [{ hosts: ["shop.example.com"], secretName: "tls" }],
      rules: [
        {
          host: "shop.example.com",
          http: {
            paths: [
              {
                path: "/admin",
                pathType: "Prefix",
                backend: { service: { name: "admin", port: { number: 8080 } } },
              },
            ],
          },
        },
      ],
    };
    const before = ingress({}, { ingressClassName: "internal", rules: [] });
    expect(flags(change("Ingress", ingress({}, spec), before))["ingress-route"]).toBe(
      "Ingress shop/x routes https://shop.example.com/admin to Service admin:8080 from outside the cluster; is now served by ingress class public (was internal).",
    );
    expect(flags(change("Ingress", ingress({}, spec), ingress({}, spec)))).toEqual({});
  });
});

describe("HorizontalPodAutoscaler", () => {
  const hpa = (target: string, max = 10): Json => ({
    metadata: { name: "web", namespace: "shop" },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: target },
      minReplicas: 2,
      maxReplicas: max,
    },
  });

  it("names the workload a new autoscaler takes over", () => {
    expect(flags(change("HorizontalPodAutoscaler", hpa("web")))["hpa-target"]).toBe(
      "HorizontalPodAutoscaler shop/x will set the replicas of Deployment shop/web, between 2 and 10 replicas.",
    );
  });

  it("names a retargeted autoscaler, and says nothing when the target stays", () => {
    expect(flags(change("HorizontalPodAutoscaler", hpa("payments"), hpa("web")))["hpa-target"]).toBe(
      "HorizontalPodAutoscaler shop/x now sets the replicas of Deployment shop/payments (was Deployment shop/web), between 2 and 10 replicas: it takes over a different workload.",
    );
    expect(flags(change("HorizontalPodAutoscaler", hpa("web", 20), hpa("web")))).toEqual({});
    // Same kind and name in another API group is another object.
    const custom = hpa("web");
    (custom.spec as Json).scaleTargetRef = { apiVersion: "example.com/v1", kind: "Deployment", name: "web" };
    expect(flags(change("HorizontalPodAutoscaler", custom, hpa("web")))["hpa-target"]).toContain(
      "now sets the replicas of Deployment shop/web of example.com/v1 (was Deployment shop/web)",
    );
  });
});

describe("PodDisruptionBudget", () => {
  const pdb = (spec: Json, status?: Json): Json => ({
    metadata: { name: "web", namespace: "shop" },
    spec,
    ...(status ? { status } : {}),
  });

  it("flags a budget that lets no pod be evicted", () => {
    for (const spec of [
      { maxUnavailable: 0, selector: { matchLabels: { app: "web" } } },
      { maxUnavailable: "0%", selector: { matchLabels: { app: "web" } } },
      { minAvailable: "100%", selector: { matchLabels: { app: "web" } } },
    ]) {
      expect(flags(change("PodDisruptionBudget", pdb(spec)))["pdb-blocks-evictions"]).toMatch(
        /no pod it covers may be evicted\. Node drains and evictions of those pods will be refused\.$/,
      );
    }
    expect(
      flags(
        change("PodDisruptionBudget", pdb({ maxUnavailable: 1, selector: { matchLabels: { app: "web" } } })),
      ),
    ).toEqual({});
  });

  it("flags an integer minAvailable that reaches the pods the live budget covers", () => {
    const live = pdb({ minAvailable: 1, selector: { matchLabels: { app: "web" } } }, { expectedPods: 3 });
    const after = pdb({ minAvailable: 3, selector: { matchLabels: { app: "web" } } });
    expect(flags(change("PodDisruptionBudget", after, live))["pdb-blocks-evictions"]).toBe(
      "PodDisruptionBudget shop/x: minAvailable 3 is at least the 3 pod(s) it covers: none may be evicted. Node drains and evictions of those pods will be refused.",
    );
    expect(
      flags(
        change(
          "PodDisruptionBudget",
          pdb({ minAvailable: 2, selector: { matchLabels: { app: "web" } } }),
          live,
        ),
      ),
    ).toEqual({});
  });

  it("flags an empty selector: the whole namespace", () => {
    const whole = pdb({ maxUnavailable: 0, selector: {} });
    expect(flags(change("PodDisruptionBudget", whole))["pdb-blocks-evictions"]).toContain(
      "maxUnavailable 0: no pod it covers may be evicted; its selector is empty: it covers every pod in the namespace",
    );
    expect(flags(change("PodDisruptionBudget", whole, whole))).toEqual({});
  });
});

describe("ConfigMap", () => {
  it("refuses the cluster's trust roots", () => {
    for (const name of ["kube-root-ca.crt", "istio-ca-root-cert"]) {
      expect(
        objectRisks(change("ConfigMap", { metadata: { name }, data: { "ca.crt": "x" } })).refusals,
      ).toMatchObject([{ rule: "trust-root" }]);
    }
    expect(objectRisks(change("ConfigMap", { metadata: { name: "app-config" }, data: { a: "b" } }))).toEqual({
      refusals: [],
      flags: [],
    });
  });

  it("flags becoming immutable", () => {
    const after = { metadata: { name: "app" }, immutable: true };
    expect(flags(change("ConfigMap", after, { metadata: { name: "app" } }))["configmap-immutable"]).toContain(
      "becomes immutable",
    );
    expect(flags(change("ConfigMap", after, after))).toEqual({});
  });
});

describe("metadata every kind shares", () => {
  it("flags new owner references and finalizers", () => {
    const after = {
      metadata: {
        name: "web",
        ownerReferences: [{ apiVersion: "apps/v1", kind: "Deployment", name: "db", uid: "u-1" }],
        finalizers: ["example.com/hold"],
      },
    };
    const byRule = flags(change("Deployment", after, { metadata: { name: "web" } }));
    expect(byRule["owner-reference"]).toBe(
      "Deployment shop/x becomes owned by Deployment db (uid u-1): the garbage collector deletes it with its owner.",
    );
    expect(byRule.finalizer).toBe(
      "Deployment shop/x gets finalizer example.com/hold: deleting it waits until a controller removes it.",
    );
    expect(flags(change("Deployment", after, after))).toEqual({});
  });
});

describe("podTemplateChangeOf", () => {
  it("takes the pod spec and the template annotations from whole objects", () => {
    const template = (image: string): Json => ({
      metadata: { annotations: { "container.apparmor.security.beta.kubernetes.io/app": "unconfined" } },
      spec: { containers: [{ name: "app", image }] },
    });
    expect(
      podTemplateChangeOf(
        change(
          "CronJob",
          { spec: { jobTemplate: { spec: { template: template("b") } } } },
          {
            spec: { jobTemplate: { spec: { template: template("a") } } },
          },
        ),
      ),
    ).toEqual({
      workload: "CronJob shop/x",
      kind: "CronJob",
      before: { containers: [{ name: "app", image: "a" }] },
      after: { containers: [{ name: "app", image: "b" }] },
      annotations: {
        before: { "container.apparmor.security.beta.kubernetes.io/app": "unconfined" },
        after: { "container.apparmor.security.beta.kubernetes.io/app": "unconfined" },
      },
    });
    expect(podTemplateChangeOf(change("Service", { spec: {} }))).toBeUndefined();
    expect(
      podTemplateChangeOf(change("Deployment", { spec: { template: template("b") } }))?.before,
    ).toBeUndefined();
  });
});
