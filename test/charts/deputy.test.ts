import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { MANIFESTS_DIR, objectId, renderKustomization, type KubeObject } from "../manifests/kustomize.ts";
import { helmTemplate, pinnedHelm, renderChart, runHelm, withValues } from "./helm.ts";

/**
 * charts/deputy, rendered by the real helm (the pinned build), against the
 * kustomize prod overlay: for the values below, the same objects.
 */

/** The approver the comparison fills into both renderings (see `overlayAsOperatorSetsIt`). */
const APPROVER = "U0APPROVER";

/** What manifests/overlays/prod says, as chart values. */
const PROD_VALUES = {
  clusterName: "production",
  image: { repository: "registry.example.com/platform/deputy", tag: "0.1.0" },
  approvals: { approvers: [APPROVER] },
  writableNamespaces: ["shop"],
  networkPolicy: { kubeApiServerCIDRs: ["10.0.0.1/32"] },
};

/** PROD_VALUES with some values replaced (a nested object replaces the whole branch given). */
function prodWith(changes: Record<string, unknown>): Record<string, unknown> {
  return { ...PROD_VALUES, ...changes };
}

/**
 * The one intentional difference. The overlay ships DEPUTY_APPROVERS empty, a
 * placeholder each operator fills in ("Before applying, set: … approvers");
 * the chart refuses to render while nobody could approve. So both sides get
 * the same approver, as an operator would set it in the overlay.
 */
function overlayAsOperatorSetsIt(objects: KubeObject[]): KubeObject[] {
  for (const object of objects) {
    if (object.kind !== "ConfigMap" || object.metadata.name !== "deputy-config") continue;
    const data = object.data as Record<string, string>;
    expect(data.DEPUTY_APPROVERS, "the overlay's placeholder").toBe("");
    data.DEPUTY_APPROVERS = APPROVER;
  }
  return objects;
}

function byId(objects: KubeObject[]): Map<string, KubeObject> {
  const map = new Map<string, KubeObject>();
  for (const object of objects) {
    const id = objectId(object);
    expect(map.has(id), `${id} is rendered twice`).toBe(false);
    map.set(id, object);
  }
  return map;
}

function ids(objects: KubeObject[]): string[] {
  return objects.map(objectId).sort();
}

function isIstio(object: KubeObject): boolean {
  return object.apiVersion.split("/")[0]!.endsWith(".istio.io");
}

const overlay = overlayAsOperatorSetsIt(renderKustomization(join(MANIFESTS_DIR, "overlays", "prod")));
let prod: KubeObject[];

beforeAll(async () => {
  // The first run on a machine builds helm from its Go module (minutes); later runs find it cached.
  await pinnedHelm();
  prod = await renderChart(PROD_VALUES);
}, 40 * 60_000);

describe("helm lint", () => {
  it("passes, strictly, with the prod values", async () => {
    const run = await withValues(["lint", "--strict"], PROD_VALUES);
    expect(run.stderr + run.stdout).toContain("1 chart(s) linted, 0 chart(s) failed");
    expect(run.ok).toBe(true);
  });

  it("runs the pinned helm", async () => {
    const run = await runHelm(["version", "--short"]);
    expect(run.stdout.trim()).toMatch(/^v4\.3\.2(\+|$)/);
  });
});

describe("the chart renders the prod overlay's objects", () => {
  it("the same objects, by kind, namespace and name", () => {
    expect(ids(prod)).toEqual(ids(overlay));
    expect(prod.length).toBeGreaterThan(80);
  });

  it("each one equal as parsed YAML", () => {
    const rendered = byId(prod);
    for (const [id, expected] of byId(overlay)) {
      expect(rendered.get(id), id).toEqual(expected);
    }
  });
});

describe("the Istio and NetworkPolicy layers are optional", () => {
  const without = (all: KubeObject[], drop: (object: KubeObject) => boolean): KubeObject[] =>
    all.filter((object) => !drop(object));

  it("istio.enabled=false removes exactly the Istio objects", async () => {
    const istio = prod.filter(isIstio);
    expect([...new Set(istio.map((o) => o.kind))].sort()).toEqual([
      "AuthorizationPolicy",
      "PeerAuthentication",
      "ServiceEntry",
      "Sidecar",
    ]);
    const rendered = await renderChart(prodWith({ istio: { enabled: false } }));
    expect(rendered.filter(isIstio)).toEqual([]);
    expect(byId(rendered)).toEqual(byId(without(prod, isIstio)));
  });

  it("networkPolicy.enabled=false removes exactly the NetworkPolicies, and needs no API server address", async () => {
    const isPolicy = (object: KubeObject): boolean => object.kind === "NetworkPolicy";
    expect(prod.filter(isPolicy).length).toBe(overlay.filter(isPolicy).length);
    const rendered = await renderChart(prodWith({ networkPolicy: { enabled: false } }));
    expect(byId(rendered)).toEqual(byId(without(prod, isPolicy)));
  });

  it("both off leaves the same workloads, RBAC and admission policies", async () => {
    const rendered = await renderChart(
      prodWith({ istio: { enabled: false }, networkPolicy: { enabled: false } }),
    );
    expect(byId(rendered)).toEqual(
      byId(without(prod, (object) => isIstio(object) || object.kind === "NetworkPolicy")),
    );
  });

  it("externalSecrets.enabled=false and namespaces.create=false remove exactly their objects", async () => {
    const fromEso = (object: KubeObject): boolean => object.apiVersion.startsWith("external-secrets.io/");
    expect(ids(prod.filter(fromEso))).toEqual([
      "external-secrets.io/ExternalSecret/deputy-agent/deputy-redis-auth",
      "external-secrets.io/ExternalSecret/deputy-system/deputy-redis-acl",
      "external-secrets.io/ExternalSecret/deputy-system/deputy-redis-auth",
      "external-secrets.io/SecretStore/deputy-agent/openbao",
      "external-secrets.io/SecretStore/deputy-system/openbao",
    ]);
    expect(byId(await renderChart(prodWith({ externalSecrets: { enabled: false } })))).toEqual(
      byId(without(prod, fromEso)),
    );
    const isNamespace = (object: KubeObject): boolean => object.kind === "Namespace";
    expect(byId(await renderChart(prodWith({ namespaces: { create: false } })))).toEqual(
      byId(without(prod, isNamespace)),
    );
  });
});

describe("what an operator must set", () => {
  const refusal = async (values: unknown): Promise<string> => {
    const run = await helmTemplate(values);
    expect(run.ok, run.stdout.slice(0, 200)).toBe(false);
    return run.stderr;
  };
  const omit = (key: keyof typeof PROD_VALUES): Record<string, unknown> => {
    const { [key]: _omitted, ...rest } = PROD_VALUES;
    return rest;
  };

  it("refuses to render the defaults alone, naming the first value to set", async () => {
    expect(await refusal({})).toMatch(/is required/);
  });

  it("the cluster's name", async () => {
    expect(await refusal(omit("clusterName"))).toContain(
      "clusterName is required: the name Deputy shows in Slack and records in the audit log",
    );
  });

  it("the image: a repository, and a tag or a digest", async () => {
    expect(await refusal(omit("image"))).toContain("image.repository is required: where the Deputy image is");
    expect(await refusal(prodWith({ image: { repository: "registry.example.com/deputy" } }))).toContain(
      "image.tag (or image.digest) is required",
    );
    const digest = `sha256:${"a".repeat(64)}`;
    const pinned = await renderChart(
      prodWith({ image: { repository: "registry.example.com/deputy", tag: "0.1.0", digest } }),
    );
    const images = pinned
      .filter((o) => o.kind === "Deployment")
      .map(
        (o) =>
          (o.spec as { template: { spec: { containers: Array<{ image: string }> } } }).template.spec
            .containers[0]!.image,
      );
    expect(images).toEqual([
      `registry.example.com/deputy@${digest}`,
      `registry.example.com/deputy@${digest}`,
      `registry.example.com/deputy@${digest}`,
    ]);
  });

  it("someone who may approve", async () => {
    expect(await refusal(omit("approvals"))).toContain(
      "approvals.approvers or approvals.approverGroup is required: with neither, nobody can approve a write",
    );
    const byGroup = await renderChart(prodWith({ approvals: { approverGroup: "S0APPROVERS" } }));
    const config = byId(byGroup).get("/ConfigMap/deputy-system/deputy-config")!.data as Record<
      string,
      string
    >;
    expect(config.DEPUTY_APPROVER_GROUP).toBe("S0APPROVERS");
  });

  it("the namespaces Deputy may change, none of them protected", async () => {
    expect(await refusal(omit("writableNamespaces"))).toContain(
      "writableNamespaces is required: list the namespaces Deputy may change",
    );
    for (const namespace of [
      "kube-system",
      "deputy-system",
      "deputy-jit",
      "openbao",
      "istio-system",
      "payments",
    ]) {
      expect(
        await refusal(
          prodWith({ writableNamespaces: ["shop", namespace], protectedNamespaces: ["payments"] }),
        ),
        namespace,
      ).toContain(`writableNamespaces must not name "${namespace}": it is a protected namespace`);
    }
  });

  it("the API server's address, while NetworkPolicies are on", async () => {
    expect(await refusal(omit("networkPolicy"))).toContain(
      "networkPolicy.kubeApiServerCIDRs is required when networkPolicy.enabled",
    );
  });

  it("refuses misspelled or mistyped values (values.schema.json)", async () => {
    expect(await refusal(prodWith({ clustername: "production" }))).toMatch(
      /additional properties 'clustername' not allowed/,
    );
    expect(await refusal(prodWith({ istio: { enabled: "sometimes" } }))).toMatch(/istio\/enabled.*boolean/s);
    expect(await refusal(prodWith({ writableNamespaces: ["*"] }))).toMatch(/writableNamespaces\/0/);
  });

  it("takes further settings through extraConfig, never one the chart sets itself", async () => {
    const rendered = await renderChart(
      prodWith({ extraConfig: { system: { DEPUTY_VERIFY_TIMEOUT_SECONDS: 120 } } }),
    );
    const config = byId(rendered).get("/ConfigMap/deputy-system/deputy-config")!.data as Record<
      string,
      string
    >;
    expect(config.DEPUTY_VERIFY_TIMEOUT_SECONDS).toBe("120");
    expect(await refusal(prodWith({ extraConfig: { agent: { DEPUTY_APPROVERS: "U0OTHER" } } }))).toContain(
      "extraConfig.agent.DEPUTY_APPROVERS is set by the chart itself",
    );
  });
});

describe("values an operator may change", () => {
  it("follows OpenBao's address, namespace and account, and the mesh's trust domain", async () => {
    const rendered = byId(
      await renderChart(
        prodWith({
          openbao: { address: "https://bao.example.com", namespace: "vault", serviceAccount: "vault" },
          istio: { trustDomain: "corp.example" },
        }),
      ),
    );
    const egress = rendered.get("networking.k8s.io/NetworkPolicy/deputy-agent/deputy-bot-openbao-egress")!;
    expect(egress.spec).toMatchObject({
      egress: [
        {
          to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "vault" } } }],
          ports: [{ protocol: "TCP", port: 443 }],
        },
      ],
    });
    const config = rendered.get("/ConfigMap/deputy-system/deputy-config")!.data as Record<string, string>;
    expect(config.BAO_ADDR).toBe("https://bao.example.com");
    expect(config.DEPUTY_PROTECTED_NAMESPACES!.split(",")).toContain("vault");
    const guard = rendered.get(
      "admissionregistration.k8s.io/ValidatingAdmissionPolicy//deputy-openbao-guard",
    )!;
    expect(JSON.stringify(guard.spec)).toContain(
      "request.userInfo.username == 'system:serviceaccount:vault:vault'",
    );
    const mcp = rendered.get("security.istio.io/AuthorizationPolicy/deputy-system/deputy-mcp-allow-agent")!;
    expect(JSON.stringify(mcp.spec)).toContain('"principals":["corp.example/ns/deputy-agent/sa/deputy-bot"]');
  });
});
