import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { AuthorizationPolicy } from "@kubernetes-models/istio/security.istio.io/v1/AuthorizationPolicy";
import { PeerAuthentication } from "@kubernetes-models/istio/security.istio.io/v1/PeerAuthentication";
import { ServiceEntry } from "@kubernetes-models/istio/networking.istio.io/v1/ServiceEntry";
import { Sidecar } from "@kubernetes-models/istio/networking.istio.io/v1/Sidecar";
import { MANIFESTS_DIR, podTemplate, renderKustomization, type KubeObject } from "./kustomize.ts";

/**
 * Istio resources are validated twice: against the published CRD schemas
 * (@kubernetes-models/istio, generated from Istio's CRDs), and against strict
 * schemas of the fields we use. The CRD schemas allow unknown fields (the API
 * server prunes them), so a typo such as `principal:` would pass them and
 * silently turn an ALLOW rule into "allow anyone"; the strict pass refuses it.
 * Then the policies are read as a graph and the intended reachability asserted.
 */

const AGENT = "cluster.local/ns/deputy-agent/sa/deputy-bot";
/** kube-prometheus's Alertmanager; an overlay names the cluster's own. */
const ALERTMANAGER = "cluster.local/ns/monitoring/sa/alertmanager-main";
const models = {
  "security.istio.io/v1/AuthorizationPolicy": (o: KubeObject) => new AuthorizationPolicy(o as never),
  "security.istio.io/v1/PeerAuthentication": (o: KubeObject) => new PeerAuthentication(o as never),
  "networking.istio.io/v1/ServiceEntry": (o: KubeObject) => new ServiceEntry(o as never),
  "networking.istio.io/v1/Sidecar": (o: KubeObject) => new Sidecar(o as never),
} as const;

const metadata = z
  .object({ name: z.string(), namespace: z.string(), labels: z.record(z.string(), z.string()).optional() })
  .strict();
const strings = z.array(z.string().min(1)).min(1);
const operation = z
  .object({ ports: strings.optional(), methods: strings.optional(), paths: strings.optional() })
  .strict();
const rule = z
  .object({
    from: z.array(z.object({ source: z.object({ principals: strings }).strict() }).strict()).optional(),
    to: z.array(z.object({ operation }).strict()).optional(),
  })
  .strict();
const authorizationPolicy = z
  .object({
    apiVersion: z.literal("security.istio.io/v1"),
    kind: z.literal("AuthorizationPolicy"),
    metadata,
    spec: z
      .object({
        selector: z
          .object({ matchLabels: z.record(z.string(), z.string()) })
          .strict()
          .optional(),
        action: z.enum(["ALLOW", "DENY"]).optional(),
        rules: z.array(rule).optional(),
      })
      .strict(),
  })
  .strict();
type Policy = z.infer<typeof authorizationPolicy>;

const strictSchemas: Record<string, z.ZodType> = {
  AuthorizationPolicy: authorizationPolicy,
  PeerAuthentication: z
    .object({
      apiVersion: z.literal("security.istio.io/v1"),
      kind: z.literal("PeerAuthentication"),
      metadata,
      spec: z.object({ mtls: z.object({ mode: z.literal("STRICT") }).strict() }).strict(),
    })
    .strict(),
  ServiceEntry: z
    .object({
      apiVersion: z.literal("networking.istio.io/v1"),
      kind: z.literal("ServiceEntry"),
      metadata,
      spec: z
        .object({
          hosts: strings,
          exportTo: z.tuple([z.literal(".")]),
          location: z.literal("MESH_EXTERNAL"),
          resolution: z.enum(["DNS", "NONE"]),
          ports: z.array(
            z
              .object({ number: z.literal(443), name: z.string(), protocol: z.enum(["TLS", "HTTPS"]) })
              .strict(),
          ),
        })
        .strict(),
    })
    .strict(),
  Sidecar: z
    .object({
      apiVersion: z.literal("networking.istio.io/v1"),
      kind: z.literal("Sidecar"),
      metadata,
      spec: z
        .object({
          outboundTrafficPolicy: z.object({ mode: z.literal("REGISTRY_ONLY") }).strict(),
          egress: z.array(z.object({ hosts: strings }).strict()),
        })
        .strict(),
    })
    .strict(),
};

const objects = renderKustomization(join(MANIFESTS_DIR, "overlays", "prod"));
const istio = objects.filter((o) => o.apiVersion.includes("istio.io"));
const policies = istio
  .filter((o) => o.kind === "AuthorizationPolicy")
  .map((o) => authorizationPolicy.parse(o));
const deputyNamespaces = objects.filter((o) => o.kind === "Namespace").map((o) => o.metadata.name);

/** The workloads (by pod labels) Istio's selectors can match. */
const workloads = objects
  .filter((o) => podTemplate(o))
  .map((o) => ({
    name: o.metadata.name,
    namespace: o.metadata.namespace!,
    labels: (podTemplate(o)!.metadata as { labels: Record<string, string> }).labels,
    serviceAccount: (podTemplate(o)!.spec as { serviceAccountName: string }).serviceAccountName,
    ports: (
      podTemplate(o)!.spec as { containers: Array<{ ports?: Array<{ containerPort: number }> }> }
    ).containers
      .flatMap((c) => c.ports ?? [])
      .map((p) => String(p.containerPort)),
  }));

interface Request {
  principal: string;
  namespace: string;
  workload: string;
  port: string;
  method: string;
  path: string;
}

function matches(values: string[] | undefined, value: string): boolean {
  if (values === undefined) return true;
  return values.some((pattern) =>
    pattern.endsWith("*") ? value.startsWith(pattern.slice(0, -1)) : pattern === value,
  );
}

/** Istio's evaluation for ALLOW/DENY policies: any DENY match denies; else any ALLOW match allows; else, if any ALLOW policy selects the workload, deny. */
function allowed(request: Request, all: Policy[] = policies): boolean {
  const workload = workloads.find((w) => w.namespace === request.namespace && w.name === request.workload)!;
  const applicable = all.filter(
    (p) =>
      p.metadata.namespace === request.namespace &&
      Object.entries(p.spec.selector?.matchLabels ?? {}).every(([k, v]) => workload.labels[k] === v),
  );
  const ruleMatches = (r: z.infer<typeof rule>): boolean =>
    (r.from ?? [{ source: { principals: ["*"] } }]).some((f) =>
      matches(f.source.principals, request.principal),
    ) &&
    (r.to ?? [{ operation: {} }]).some(
      (t) =>
        matches(t.operation.ports, request.port) &&
        matches(t.operation.methods, request.method) &&
        matches(t.operation.paths, request.path),
    );
  if (applicable.some((p) => p.spec.action === "DENY" && (p.spec.rules ?? []).some(ruleMatches)))
    return false;
  const allows = applicable.filter((p) => (p.spec.action ?? "ALLOW") === "ALLOW");
  if (allows.length === 0) return true;
  return allows.some((p) => (p.spec.rules ?? []).some(ruleMatches));
}

describe("Istio resources", () => {
  it("are the kinds we expect, and only Istio and External Secrets kinds are not built in", () => {
    expect(new Set(istio.map((o) => o.kind))).toEqual(
      new Set(["AuthorizationPolicy", "PeerAuthentication", "ServiceEntry", "Sidecar"]),
    );
    const custom = objects.filter((o) => o.apiVersion.includes(".io/") && !o.apiVersion.includes("k8s.io"));
    expect(new Set(custom.map((o) => o.apiVersion.split("/")[0]))).toEqual(
      new Set(["security.istio.io", "networking.istio.io", "external-secrets.io"]),
    );
  });

  it.each(istio.map((o) => [`${o.kind} ${o.metadata.namespace}/${o.metadata.name}`, o] as const))(
    "%s validates against the published CRD schema and the strict schema",
    (_name, object) => {
      const make = models[`${object.apiVersion}/${object.kind}` as keyof typeof models];
      expect(make, `${object.apiVersion} ${object.kind} has a published schema`).toBeDefined();
      expect(() => make(object).validate()).not.toThrow();
      const strict = strictSchemas[object.kind]!.safeParse(object);
      expect(strict.success, strict.success ? "" : JSON.stringify(strict.error.issues)).toBe(true);
    },
  );

  it("the validators catch the mistakes that matter", () => {
    const allowMcp = policies.find((p) => p.metadata.name === "deputy-mcp-allow-agent")!;
    const typo = structuredClone(allowMcp) as unknown as {
      spec: { rules: Array<{ from: Array<{ source: Record<string, unknown> }> }> };
    };
    typo.spec.rules[0]!.from[0]!.source = { principal: [AGENT] };
    expect(() =>
      models["security.istio.io/v1/AuthorizationPolicy"](typo as unknown as KubeObject).validate(),
    ).not.toThrow();
    expect(authorizationPolicy.safeParse(typo).success).toBe(false);
    const badAction = { ...allowMcp, spec: { ...allowMcp.spec, action: "PERMIT" } };
    expect(() =>
      models["security.istio.io/v1/AuthorizationPolicy"](badAction as unknown as KubeObject).validate(),
    ).toThrow(/action/);
    const permissive = {
      ...istio.find((o) => o.kind === "PeerAuthentication")!,
      spec: { mtls: { mode: "PERMISSIVE" } },
    };
    expect(strictSchemas.PeerAuthentication!.safeParse(permissive).success).toBe(false);
    const openSidecar = {
      ...istio.find((o) => o.kind === "Sidecar")!,
      spec: { outboundTrafficPolicy: { mode: "ALLOW_ANY" }, egress: [] },
    };
    expect(() =>
      models["networking.istio.io/v1/Sidecar"](openSidecar as KubeObject).validate(),
    ).not.toThrow();
    expect(strictSchemas.Sidecar!.safeParse(openSidecar).success).toBe(false);
  });
});

describe("zero-trust policy graph", () => {
  it("every namespace is STRICT mTLS, deny-by-default and REGISTRY_ONLY", () => {
    expect(deputyNamespaces.sort()).toEqual(["deputy-agent", "deputy-jit", "deputy-system"]);
    for (const namespace of deputyNamespaces) {
      const inNamespace = istio.filter((o) => o.metadata.namespace === namespace);
      expect(inNamespace.filter((o) => o.kind === "PeerAuthentication").map((o) => o.spec)).toEqual([
        { mtls: { mode: "STRICT" } },
      ]);
      const denyAll = policies.filter(
        (p) => p.metadata.namespace === namespace && Object.keys(p.spec).length === 0,
      );
      expect(denyAll, namespace).toHaveLength(1);
      expect(inNamespace.filter((o) => o.kind === "Sidecar").map((o) => o.spec)).toEqual([
        expect.objectContaining({ outboundTrafficPolicy: { mode: "REGISTRY_ONLY" } }),
      ]);
    }
  });

  it("every ALLOW names exact principals: no wildcard, no rule without a source", () => {
    for (const policy of policies.filter((p) => Object.keys(p.spec).length > 0)) {
      expect(policy.spec.action, policy.metadata.name).toBe("ALLOW");
      expect(policy.spec.selector, policy.metadata.name).toBeDefined();
      expect(policy.spec.rules?.length, policy.metadata.name).toBeGreaterThan(0);
      for (const r of policy.spec.rules ?? []) {
        expect(r.from?.length, policy.metadata.name).toBeGreaterThan(0);
        expect(r.to?.length, policy.metadata.name).toBeGreaterThan(0);
        for (const from of r.from ?? []) {
          for (const principal of from.source.principals) {
            // Deputy's own accounts, and Alertmanager on the bot's webhook alone (tested below).
            if (policy.metadata.name === "deputy-bot-allow-alertmanager") {
              expect(principal).toBe(ALERTMANAGER);
              continue;
            }
            expect(principal, policy.metadata.name).toMatch(
              /^cluster\.local\/ns\/deputy-[a-z]+\/sa\/deputy-[a-z]+$/,
            );
          }
        }
        for (const to of r.to ?? []) expect(to.operation.ports, policy.metadata.name).toBeDefined();
      }
    }
  });

  it("only the agent reaches the MCP server, on its port, methods and paths", () => {
    const mcp = { namespace: "deputy-system", workload: "deputy-mcp", port: "8080" };
    for (const method of ["POST", "GET", "DELETE"]) {
      for (const path of ["/mcp", "/mcp/session"]) {
        expect(allowed({ ...mcp, principal: AGENT, method, path }), `${method} ${path}`).toBe(true);
      }
    }
    const refused: Array<Partial<Request>> = [
      { principal: "cluster.local/ns/deputy-system/sa/deputy-executor" },
      { principal: "cluster.local/ns/deputy-system/sa/deputy-mcp" },
      { principal: "cluster.local/ns/shop/sa/default" },
      { principal: "cluster.local/ns/deputy-agent/sa/default" },
      { principal: "" },
      { method: "PUT" },
      { method: "PATCH" },
      { path: "/metrics" },
      { path: "/mcpx" },
      { path: "/readyz" },
      { port: "9090" },
    ];
    for (const change of refused) {
      expect(
        allowed({ ...mcp, principal: AGENT, method: "POST", path: "/mcp", ...change }),
        JSON.stringify(change),
      ).toBe(false);
    }
  });

  it("only the agent reaches the executor's decision endpoint", () => {
    const executor = { namespace: "deputy-system", workload: "deputy-executor", port: "8081" };
    expect(allowed({ ...executor, principal: AGENT, method: "POST", path: "/v1/decisions" })).toBe(true);
    for (const change of [
      { principal: "cluster.local/ns/deputy-system/sa/deputy-mcp" },
      { method: "GET" },
      { path: "/v1/decisions/act_x" },
      { path: "/v1/actions" },
      { port: "9090" },
    ]) {
      expect(
        allowed({ ...executor, principal: AGENT, method: "POST", path: "/v1/decisions", ...change }),
        JSON.stringify(change),
      ).toBe(false);
    }
  });

  it("only Alertmanager reaches the bot, and only POST /v1/alerts on the webhook port", () => {
    const webhook = {
      namespace: "deputy-agent",
      workload: "deputy-bot",
      port: "8082",
      principal: ALERTMANAGER,
      method: "POST",
      path: "/v1/alerts",
    };
    expect(allowed(webhook)).toBe(true);
    for (const change of [
      { principal: AGENT },
      { principal: "cluster.local/ns/monitoring/sa/prometheus-k8s" },
      { principal: "cluster.local/ns/shop/sa/default" },
      { principal: "" },
      { method: "GET" },
      { method: "PUT" },
      { path: "/v1/alerts/x" },
      { path: "/healthz" },
      { path: "/metrics" },
      { port: "9090" },
    ]) {
      expect(allowed({ ...webhook, ...change }), JSON.stringify(change)).toBe(false);
    }
    // The port the policy opens is the one the bot serves the webhook on.
    const bot = workloads.find((w) => w.name === "deputy-bot")!;
    expect(bot.ports).toContain("8082");
  });

  it("Redis is reached by Deputy's three workloads only; the bot by nobody", () => {
    const redis = {
      namespace: "deputy-system",
      workload: "deputy-redis",
      port: "6379",
      method: "",
      path: "",
    };
    for (const sa of [
      "deputy-agent/sa/deputy-bot",
      "deputy-system/sa/deputy-mcp",
      "deputy-system/sa/deputy-executor",
    ]) {
      expect(allowed({ ...redis, principal: `cluster.local/ns/${sa}` }), sa).toBe(true);
    }
    expect(allowed({ ...redis, principal: "cluster.local/ns/shop/sa/default" })).toBe(false);
    for (const workload of workloads.filter((w) => w.namespace === "deputy-agent")) {
      for (const port of workload.ports) {
        expect(
          allowed({
            namespace: workload.namespace,
            workload: workload.name,
            port,
            principal: AGENT,
            method: "GET",
            path: "/",
          }),
        ).toBe(false);
      }
    }
  });

  it("the graph check itself would notice a policy that opens a workload to anyone", () => {
    const leaky: Policy = {
      apiVersion: "security.istio.io/v1",
      kind: "AuthorizationPolicy",
      metadata: { name: "leaky", namespace: "deputy-system" },
      spec: {
        selector: { matchLabels: { "app.kubernetes.io/name": "deputy-mcp" } },
        action: "ALLOW",
        rules: [{}],
      },
    };
    const request = {
      namespace: "deputy-system",
      workload: "deputy-mcp",
      port: "8080",
      principal: "cluster.local/ns/shop/sa/default",
      method: "PUT",
      path: "/x",
    };
    expect(allowed(request)).toBe(false);
    expect(allowed(request, [...policies, leaky])).toBe(true);
  });

  it("the only external hosts are Slack and Anthropic, visible to the agent namespace only", () => {
    const entries = istio.filter((o) => o.kind === "ServiceEntry");
    expect(entries.every((o) => o.metadata.namespace === "deputy-agent")).toBe(true);
    const hosts = entries.flatMap((o) => (o.spec as { hosts: string[] }).hosts).sort();
    expect(hosts).toEqual([
      "*.slack.com",
      "api.anthropic.com",
      "slack.com",
      "wss-backup.slack.com",
      "wss-primary.slack.com",
    ]);
    const systemSidecar = istio.find(
      (o) => o.kind === "Sidecar" && o.metadata.namespace === "deputy-system",
    )!;
    const systemHosts = (systemSidecar.spec as { egress: Array<{ hosts: string[] }> }).egress.flatMap(
      (e) => e.hosts,
    );
    expect(systemHosts.some((h) => h.includes("slack") || h.includes("anthropic") || h === "*/*")).toBe(
      false,
    );
  });
});
