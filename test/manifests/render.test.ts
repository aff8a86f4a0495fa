import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../core/config/config.ts";
import { loadOpenBaoRoles } from "../../core/identity/openbao-roles.ts";
import { loadRolesFromConfig } from "../../executor/wiring.ts";
import {
  KustomizeError,
  MANIFESTS_DIR,
  applyOperation,
  podTemplate,
  readYamlDocuments,
  renderKustomization,
  type KubeObject,
} from "./kustomize.ts";

const OVERLAYS = ["dev", "prod"] as const;
const rendered = Object.fromEntries(
  OVERLAYS.map((overlay) => [overlay, renderKustomization(join(MANIFESTS_DIR, "overlays", overlay))]),
) as Record<(typeof OVERLAYS)[number], KubeObject[]>;

function yamlFiles(directory: string): string[] {
  return readdirSync(directory).flatMap((entry) => {
    const path = join(directory, entry);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(entry) ? [path] : [];
  });
}

function find(objects: KubeObject[], kind: string, name: string, namespace?: string): KubeObject {
  const object = objects.find(
    (o) =>
      o.kind === kind &&
      o.metadata.name === name &&
      (namespace === undefined || o.metadata.namespace === namespace),
  );
  if (!object) throw new Error(`${kind} ${namespace ?? ""}/${name} is not rendered`);
  return object;
}

interface Container {
  name: string;
  image: string;
  securityContext?: Record<string, unknown>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  readinessProbe?: { httpGet?: { path: string; port: string | number }; tcpSocket?: unknown };
  livenessProbe?: { httpGet?: { path: string; port: string | number }; tcpSocket?: unknown };
  ports?: Array<{ name: string; containerPort: number }>;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string } } }>;
}
interface PodSpec {
  serviceAccountName: string;
  automountServiceAccountToken?: boolean;
  securityContext?: Record<string, unknown>;
  containers: Container[];
  volumes?: Array<{
    name: string;
    projected?: { sources: Array<Record<string, unknown>> };
    secret?: unknown;
  }>;
  topologySpreadConstraints?: unknown[];
}
function podSpec(object: KubeObject): PodSpec {
  return podTemplate(object)!.spec as PodSpec;
}

describe("every manifest file parses", () => {
  const files = yamlFiles(MANIFESTS_DIR);
  it("finds the manifests", () => {
    expect(files.length).toBeGreaterThan(10);
  });
  it.each(files.map((file) => [file.slice(MANIFESTS_DIR.length + 1), file]))("%s", (_name, file) => {
    const documents = readYamlDocuments(file);
    expect(documents.length).toBeGreaterThan(0);
  });
});

describe.each(OVERLAYS)("overlay %s", (overlay) => {
  const objects = rendered[overlay];
  const workloads = objects.filter((o) => ["Deployment", "StatefulSet"].includes(o.kind));

  it("renders the three Deputy workloads and Redis, in their namespaces", () => {
    expect(find(objects, "Deployment", "deputy-bot").metadata.namespace).toBe("deputy-agent");
    expect(find(objects, "Deployment", "deputy-mcp").metadata.namespace).toBe("deputy-system");
    expect(find(objects, "Deployment", "deputy-executor").metadata.namespace).toBe("deputy-system");
    expect(find(objects, "StatefulSet", "deputy-redis").metadata.namespace).toBe("deputy-system");
    for (const object of objects)
      expect(object.metadata.labels?.["app.kubernetes.io/part-of"]).toBe("deputy");
  });

  it("labels the namespaces for Istio injection and restricted Pod Security", () => {
    for (const name of ["deputy-agent", "deputy-system"]) {
      const labels = find(objects, "Namespace", name).metadata.labels!;
      expect(labels["istio-injection"]).toBe("enabled");
      for (const mode of ["enforce", "audit", "warn"]) {
        expect(labels[`pod-security.kubernetes.io/${mode}`]).toBe("restricted");
      }
    }
  });

  it("never mounts a service-account token implicitly", () => {
    for (const account of objects.filter((o) => o.kind === "ServiceAccount")) {
      expect(account.automountServiceAccountToken, account.metadata.name).toBe(false);
      expect(account.secrets, account.metadata.name).toBeUndefined();
    }
    for (const workload of workloads) {
      expect(podSpec(workload).automountServiceAccountToken, workload.metadata.name).toBe(false);
    }
    expect(objects.filter((o) => o.kind === "Secret")).toEqual([]);
  });

  it("gives tokens only where needed: projected, one hour; OpenBao's audience-bound, the API token to the reader only", () => {
    const tokens = (name: string): Array<Record<string, unknown>> =>
      (podSpec(find(objects, "Deployment", name)).volumes ?? []).flatMap((volume) =>
        (volume.projected?.sources ?? [])
          .map((source) => source.serviceAccountToken as Record<string, unknown> | undefined)
          .filter((token) => token !== undefined),
      );
    expect(tokens("deputy-bot")).toEqual([{ path: "token", audience: "openbao", expirationSeconds: 3600 }]);
    // The MCP server: the reader's API token, and one for OpenBao that reads its keys at start-up.
    expect(tokens("deputy-mcp")).toEqual([
      { path: "token", audience: "openbao", expirationSeconds: 3600 },
      { path: "token", expirationSeconds: 3600 },
    ]);
    expect(tokens("deputy-executor")).toEqual([
      { path: "token", audience: "openbao", expirationSeconds: 3600 },
    ]);
    expect(podSpec(find(objects, "StatefulSet", "deputy-redis")).volumes?.some((v) => v.projected)).toBe(
      false,
    );
  });

  it("runs every container restricted, with resources and real probes", () => {
    for (const workload of workloads) {
      const spec = podSpec(workload);
      expect(spec.securityContext).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: "RuntimeDefault" },
      });
      for (const container of spec.containers) {
        const where = `${workload.metadata.name}/${container.name}`;
        expect(container.securityContext, where).toMatchObject({
          runAsNonRoot: true,
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ["ALL"] },
          seccompProfile: { type: "RuntimeDefault" },
        });
        expect(container.resources?.requests?.cpu, where).toBeDefined();
        expect(container.resources?.requests?.memory, where).toBeDefined();
        expect(container.resources?.limits?.memory, where).toBeDefined();
        expect(container.readinessProbe, where).toBeDefined();
        expect(container.livenessProbe, where).toBeDefined();
      }
    }
    const probe = (name: string): string[] => {
      const container = podSpec(find(objects, "Deployment", name)).containers[0]!;
      const port = container.ports!.find(
        (p) => p.name === container.readinessProbe!.httpGet!.port,
      )!.containerPort;
      return [container.readinessProbe!.httpGet!.path, container.livenessProbe!.httpGet!.path, String(port)];
    };
    expect(probe("deputy-mcp")).toEqual(["/readyz", "/healthz", "8080"]);
    expect(probe("deputy-executor")).toEqual(["/healthz", "/healthz", "8081"]);
    expect(probe("deputy-bot")).toEqual(["/readyz", "/healthz", "9090"]);
  });

  it("lets Istio rewrite the HTTP probes, so no AuthorizationPolicy has to open health paths", () => {
    for (const name of ["deputy-bot", "deputy-mcp", "deputy-executor"]) {
      const annotations = (
        podTemplate(find(objects, "Deployment", name))!.metadata as {
          annotations: Record<string, string>;
        }
      ).annotations;
      expect(annotations["sidecar.istio.io/rewriteAppHTTPProbers"], name).toBe("true");
      expect(JSON.parse(annotations["proxy.istio.io/config"]!), name).toEqual({
        holdApplicationUntilProxyStarts: true,
      });
    }
  });

  it("runs the commands the CLI defines", () => {
    const args = (name: string): unknown =>
      (podSpec(find(objects, "Deployment", name)).containers[0] as { args?: unknown }).args;
    expect(args("deputy-bot")).toEqual(["bot"]);
    expect(args("deputy-mcp")).toEqual(["mcp", "--http"]);
    expect(args("deputy-executor")).toEqual(["executor", "--host", "0.0.0.0"]);
  });

  it("keeps every Deputy Deployment available during disruptions and spread over nodes", () => {
    for (const name of ["deputy-bot", "deputy-mcp", "deputy-executor"]) {
      const deployment = find(objects, "Deployment", name);
      const pdb = find(objects, "PodDisruptionBudget", name, deployment.metadata.namespace);
      const selector = (pdb.spec as { selector: { matchLabels: Record<string, string> } }).selector
        .matchLabels;
      const labels = (podTemplate(deployment)!.metadata as { labels: Record<string, string> }).labels;
      for (const [key, value] of Object.entries(selector)) expect(labels[key]).toBe(value);
      expect((pdb.spec as { maxUnavailable?: number }).maxUnavailable).toBe(1);
      expect(podSpec(deployment).topologySpreadConstraints?.length).toBeGreaterThan(0);
    }
  });

  it("logs in to OpenBao with roles bound to exactly these service accounts, audience and token path", () => {
    const roles = loadOpenBaoRoles();
    const cases = [
      { deployment: "deputy-executor", roleKey: "DEPUTY_BAO_AUTH_ROLE" },
      { deployment: "deputy-bot", roleKey: "DEPUTY_BAO_BOT_AUTH_ROLE" },
      { deployment: "deputy-mcp", roleKey: "DEPUTY_BAO_MCP_AUTH_ROLE" },
    ];
    for (const { deployment, roleKey } of cases) {
      const workload = find(objects, "Deployment", deployment);
      const namespace = workload.metadata.namespace!;
      const config = find(objects, "ConfigMap", "deputy-config", namespace).data as Record<string, string>;
      const role = roles.auth.roles.find((r) => r.name === config[roleKey]);
      expect(role, `${deployment}: auth role ${config[roleKey]}`).toBeDefined();
      expect(role!.bound_service_account_names).toEqual([podSpec(workload).serviceAccountName]);
      expect(role!.bound_service_account_namespaces).toEqual([namespace]);
      const spec = podSpec(workload);
      const volume = spec.volumes!.find((v) =>
        v.projected?.sources.some(
          (source) => (source.serviceAccountToken as { audience?: string })?.audience,
        ),
      )!;
      const token = volume.projected!.sources[0]!.serviceAccountToken as { audience: string; path: string };
      expect(token.audience).toBe(role!.audience);
      const mount = spec.containers[0]!.volumeMounts!.find((m) => m.name === volume.name)!;
      expect(config.DEPUTY_BAO_JWT_PATH).toBe(`${mount.mountPath}/${token.path}`);
      expect(config.DEPUTY_BAO_AUTH_MOUNT).toBe(roles.auth.mount);
    }
    const botConfig = find(objects, "ConfigMap", "deputy-config", "deputy-agent").data as Record<
      string,
      string
    >;
    expect(botConfig.DEPUTY_SECRETS_FROM_OPENBAO).toBe(`${roles.kv.mount}/data/deputy`);
    const botPolicy = Object.keys(roles.policies["deputy-bot"]!.paths);
    expect(botPolicy).toContain(`${roles.kv.mount}/data/deputy/slack`);
    // Every component reads Deputy's keys from the same place, each only its own entries.
    const systemConfig = find(objects, "ConfigMap", "deputy-config", "deputy-system").data as Record<
      string,
      string
    >;
    for (const config of [botConfig, systemConfig]) {
      expect(config.DEPUTY_KEYS_FROM_OPENBAO).toBe(`${roles.kv.mount}/data/deputy/keys`);
    }
    expect(botPolicy).toContain(`${roles.kv.mount}/data/deputy/keys/executor-caller`);
  });

  it("lets OpenBao manage accounts in exactly the writable namespaces and the jit namespace", () => {
    const config = find(objects, "ConfigMap", "deputy-config", "deputy-system").data as Record<
      string,
      string
    >;
    const writable = config.DEPUTY_WRITABLE_NAMESPACES!.split(",").map((ns) => ns.trim());
    const roles = loadOpenBaoRoles({
      writableNamespaces: writable,
      jitNamespace: config.DEPUTY_JIT_NAMESPACE,
    });
    const bound = objects
      .filter(
        (o) =>
          o.kind === "RoleBinding" &&
          (o.roleRef as { name: string }).name === "deputy-openbao-leases" &&
          (o.subjects as Array<{ name: string; namespace: string }>).some((s) => s.namespace === "openbao"),
      )
      .map((o) => o.metadata.namespace!)
      .sort();
    expect(bound).toEqual([...roles.writableNamespaces, roles.jitNamespace].sort());
    // and never cluster-wide for the namespaced part
    const clusterBindings = objects.filter(
      (o) =>
        o.kind === "ClusterRoleBinding" && (o.roleRef as { name: string }).name === "deputy-openbao-leases",
    );
    expect(clusterBindings).toEqual([]);
  });

  it("loads the executor's OpenBao roles from its own ConfigMap, which protects the jit namespace from writes", () => {
    const data = find(objects, "ConfigMap", "deputy-config", "deputy-system").data as Record<string, string>;
    const config = parseConfig(data);
    expect(config.guardrails.protectedNamespaces).toContain(config.approvals.jitNamespace);
    const roles = loadRolesFromConfig(config);
    expect(roles.jitNamespace).toBe(data.DEPUTY_JIT_NAMESPACE);
    expect(roles.writableNamespaces).toEqual(data.DEPUTY_WRITABLE_NAMESPACES!.split(","));
  });

  it("runs proactive triage in the MCP server with the read identity, and names the bot's channels for the operator", () => {
    const system = find(objects, "ConfigMap", "deputy-config", "deputy-system").data as Record<
      string,
      string
    >;
    const agent = find(objects, "ConfigMap", "deputy-config", "deputy-agent").data as Record<string, string>;
    expect(parseConfig(system).observability.watch).toBe(true);
    expect(parseConfig(agent).observability.watch).toBe(false);
    expect(Object.keys(agent)).toEqual(
      expect.arrayContaining(["SLACK_ALERT_CHANNEL", "SLACK_TRIAGE_CHANNEL"]),
    );
    const role = find(objects, "Role", "deputy-watcher-lease", system.DEPUTY_WATCH_LEASE_NAMESPACE);
    expect(role.rules).toEqual([
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
      {
        apiGroups: ["coordination.k8s.io"],
        resources: ["leases"],
        resourceNames: ["deputy-watcher"],
        verbs: ["get", "update"],
      },
    ]);
    const binding = find(objects, "RoleBinding", "deputy-watcher-lease", system.DEPUTY_WATCH_LEASE_NAMESPACE);
    expect(binding.subjects).toEqual([
      { kind: "ServiceAccount", name: "deputy-mcp", namespace: "deputy-system" },
    ]);
    const mcpEnv = podSpec(find(objects, "Deployment", "deputy-mcp")).containers[0]!.env ?? [];
    expect(mcpEnv.find((e) => e.name === "DEPUTY_WATCH_IDENTITY")).toMatchObject({
      valueFrom: { fieldRef: { fieldPath: "metadata.name" } },
    });
  });

  it("persists Redis with an append-only file and authenticates every client", () => {
    const config = find(objects, "ConfigMap", "deputy-redis-config");
    const conf = (config.data as Record<string, string>)["valkey.conf"]!;
    expect(conf).toMatch(/^appendonly yes$/m);
    expect(conf).toMatch(/^aclfile /m);
    const redis = find(objects, "StatefulSet", "deputy-redis");
    expect((redis.spec as { volumeClaimTemplates: unknown[] }).volumeClaimTemplates).toHaveLength(1);
    for (const name of ["deputy-bot", "deputy-mcp", "deputy-executor"]) {
      const env = (
        podSpec(find(objects, "Deployment", name)).containers[0] as {
          env: Array<{ name: string; value?: string }>;
        }
      ).env;
      expect(env.find((e) => e.name === "REDIS_URL")?.value).toMatch(
        /^redis:\/\/deputy:\$\(REDIS_PASSWORD\)@deputy-redis\./,
      );
    }
  });

  it("serves the Alertmanager webhook: a Service on the bot's port, the bot listening there, its only ingress from Alertmanager's pods, its token from OpenBao", () => {
    const bot = find(objects, "Deployment", "deputy-bot");
    const alertsPort = podSpec(bot).containers[0]!.ports!.find((p) => p.name === "http-alerts")!;
    const agentConfig = find(objects, "ConfigMap", "deputy-config", "deputy-agent").data as Record<
      string,
      string
    >;
    const parsed = parseConfig(agentConfig);
    expect(parsed.alertmanager.port).toBe(alertsPort.containerPort);
    // Inside the pod, behind the mesh: the default 127.0.0.1 would not be reachable through the sidecar.
    expect(parsed.alertmanager.host).toBe("0.0.0.0");
    // No token in git: the bot reads it from OpenBao (secret/deputy/alerts), which its role may read.
    expect(agentConfig.DEPUTY_ALERTS_TOKEN).toBeUndefined();
    expect(parsed.slack.secretsFromOpenBao).toBe("secret/data/deputy");
    const roles = loadOpenBaoRoles();
    expect(roles.kv.paths["deputy/alerts"]).toEqual(["token"]);
    expect(roles.policies["deputy-bot"]!.paths["secret/data/deputy/alerts"]).toEqual(["read"]);

    const service = find(objects, "Service", "deputy-bot", "deputy-agent");
    const botLabels = (podTemplate(bot)!.metadata as { labels: Record<string, string> }).labels;
    const selector = (service.spec as { selector: Record<string, string> }).selector;
    expect(Object.entries(selector).every(([k, v]) => botLabels[k] === v)).toBe(true);
    expect(service.spec).toMatchObject({
      ports: [{ name: "http-alerts", port: alertsPort.containerPort, targetPort: "http-alerts" }],
    });

    type Ingress = {
      from: Array<{ namespaceSelector?: unknown; podSelector?: unknown }>;
      ports: Array<{ port: number }>;
    };
    const botIngress = objects.filter(
      (o) =>
        o.kind === "NetworkPolicy" &&
        o.metadata.namespace === "deputy-agent" &&
        (o.spec as { policyTypes: string[] }).policyTypes.includes("Ingress") &&
        Object.keys((o.spec as { podSelector: { matchLabels?: object } }).podSelector.matchLabels ?? {})
          .length > 0,
    );
    expect(botIngress.map((o) => o.metadata.name)).toEqual(["deputy-bot-alerts-ingress"]);
    expect((botIngress[0]!.spec as { ingress: Ingress[] }).ingress).toEqual([
      {
        from: [
          {
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } },
            podSelector: { matchLabels: { "app.kubernetes.io/name": "alertmanager" } },
          },
        ],
        ports: [{ protocol: "TCP", port: alertsPort.containerPort }],
      },
    ]);
  });

  it("pins the image per environment", () => {
    const images = new Set(
      workloads.filter((w) => w.metadata.name !== "deputy-redis").map((w) => podSpec(w).containers[0]!.image),
    );
    expect(images).toEqual(
      new Set([overlay === "dev" ? "deputy:dev" : "registry.example.com/platform/deputy:0.1.0"]),
    );
  });
});

describe("overlay differences", () => {
  it("dev runs one replica of each; prod keeps two and narrows API server egress", () => {
    for (const name of ["deputy-bot", "deputy-mcp", "deputy-executor"]) {
      expect((find(rendered.dev, "Deployment", name).spec as { replicas: number }).replicas).toBe(1);
      expect((find(rendered.prod, "Deployment", name).spec as { replicas: number }).replicas).toBe(2);
    }
    const egress = (objects: KubeObject[]): string =>
      (
        find(objects, "NetworkPolicy", "kube-apiserver-egress").spec as {
          egress: Array<{ to: Array<{ ipBlock: { cidr: string } }> }>;
        }
      ).egress[0]!.to[0]!.ipBlock.cidr;
    expect(egress(rendered.dev)).toBe("0.0.0.0/0");
    expect(egress(rendered.prod)).not.toBe("0.0.0.0/0");
  });

  it("prod syncs every secret the pods read from OpenBao", () => {
    const referenced = new Set<string>();
    for (const workload of rendered.prod.filter((o) => ["Deployment", "StatefulSet"].includes(o.kind))) {
      const spec = podSpec(workload);
      for (const container of spec.containers) {
        for (const env of container.env ?? []) {
          const name = env.valueFrom?.secretKeyRef?.name;
          if (name) referenced.add(`${workload.metadata.namespace}/${name}`);
        }
      }
      for (const volume of spec.volumes ?? []) {
        const secretName = (volume.secret as { secretName?: string } | undefined)?.secretName;
        if (secretName) referenced.add(`${workload.metadata.namespace}/${secretName}`);
      }
    }
    const synced = new Set(
      rendered.prod
        .filter((o) => o.kind === "ExternalSecret")
        .map((o) => `${o.metadata.namespace}/${(o.spec as { target: { name: string } }).target.name}`),
    );
    expect([...referenced].sort()).toEqual([...synced].sort());
    expect(rendered.dev.some((o) => o.kind === "ExternalSecret")).toBe(false);
  });
});

describe("the kustomize subset renderer", () => {
  function fixture(files: Record<string, string>): string {
    const root = mkdtempSync(join(tmpdir(), "kustomize-"));
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(root, path, ".."), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    return root;
  }
  const HEADER = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n";
  const DEPLOYMENT =
    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: a}\nspec:\n  replicas: 3\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: c, image: 'example.com:5000/web:1.0'}]\n";

  it("applies labels, images, replicas and JSON 6902 patches through nested kustomizations", () => {
    const root = fixture({
      "base/kustomization.yaml": `${HEADER}resources: [web.yaml]\nlabels:\n  - pairs: {team: x}\n    includeTemplates: true\n`,
      "base/web.yaml": DEPLOYMENT,
      "overlay/kustomization.yaml": `${HEADER}resources: [../base]\nimages:\n  - {name: 'example.com:5000/web', newTag: '2.0'}\nreplicas:\n  - {name: web, count: 1}\npatches:\n  - target: {kind: Deployment, name: web}\n    patch: |-\n      - {op: add, path: /metadata/annotations, value: {a: b}}\n      - {op: replace, path: /spec/template/spec/containers/0/name, value: app}\n      - {op: add, path: /spec/template/spec/containers/-, value: {name: side, image: side}}\n`,
    });
    const [web] = renderKustomization(join(root, "overlay"));
    expect(web!.kind).toBe("Deployment");
    expect(web!.metadata.labels).toEqual({ team: "x" });
    expect(web!.metadata.annotations).toEqual({ a: "b" });
    const spec = web!.spec as {
      replicas: number;
      template: {
        metadata: { labels: unknown };
        spec: { containers: Array<{ name: string; image: string }> };
      };
    };
    expect(spec.replicas).toBe(1);
    expect(spec.template.metadata.labels).toEqual({ app: "web", team: "x" });
    expect(spec.template.spec.containers).toEqual([
      { name: "app", image: "example.com:5000/web:2.0" },
      { name: "side", image: "side" },
    ]);
  });

  it("refuses what it does not implement and what kustomize would refuse", () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [
        {
          "k/kustomization.yaml": `${HEADER}resources: [web.yaml]\nnamePrefix: x-\n`,
          "k/web.yaml": DEPLOYMENT,
        },
        /Unrecognized key.*namePrefix/,
      ],
      [
        { "k/kustomization.yaml": `${HEADER}resources: [missing.yaml]\n` },
        /resource "missing.yaml" does not exist/,
      ],
      [
        { "k/kustomization.yaml": `${HEADER}resources: [web.yaml, web.yaml]\n`, "k/web.yaml": DEPLOYMENT },
        /apps\/Deployment\/a\/web is defined twice/,
      ],
      [
        {
          "k/kustomization.yaml": `${HEADER}resources: [web.yaml]\npatches:\n  - target: {kind: Deployment, name: nope}\n    patch: '[]'\n`,
          "k/web.yaml": DEPLOYMENT,
        },
        /matches no resource/,
      ],
      [
        {
          "k/kustomization.yaml": `${HEADER}resources: [web.yaml]\npatches:\n  - target: {kind: Deployment, name: web}\n    patch: '[{op: replace, path: /spec/nope, value: 1}]'\n`,
          "k/web.yaml": DEPLOYMENT,
        },
        /path \/spec\/nope does not exist/,
      ],
      [
        {
          "k/kustomization.yaml": `${HEADER}resources: [web.yaml]\nimages: [{name: other, newTag: x}]\n`,
          "k/web.yaml": DEPLOYMENT,
        },
        /image "other" is used by no container/,
      ],
      [
        { "k/kustomization.yaml": `${HEADER}resources: [bad.yaml]\n`, "k/bad.yaml": "kind: Thing\n" },
        /not a Kubernetes object/,
      ],
      [
        { "k/kustomization.yaml": `${HEADER}resources: [bad.yaml]\n`, "k/bad.yaml": "a: [\n" },
        /bad.yaml: document 1/,
      ],
      [
        {
          "k/kustomization.yaml": `${HEADER}resources: [mode.yaml]\n`,
          "k/mode.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m}\ndata: {mode: 0444}\n",
        },
        /"0444" means different things to kubectl/,
      ],
      [
        {
          "k/kustomization.yaml": `${HEADER}resources: [flag.yaml]\n`,
          "k/flag.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m, labels: {enabled: yes}}\n",
        },
        /"yes" means different things/,
      ],
      [
        {
          "k/kustomization.yaml": `${HEADER}resources: [web.yaml]\nlabels: [{pairs: {a: b}, includeSelectors: true}]\n`,
          "k/web.yaml": DEPLOYMENT,
        },
        /includeSelectors/,
      ],
    ];
    for (const [files, pattern] of cases) {
      const root = fixture(files);
      expect(() => renderKustomization(join(root, "k"))).toThrow(KustomizeError);
      expect(() => renderKustomization(join(root, "k"))).toThrow(pattern);
    }
  });

  it("implements add, replace and remove on objects and arrays", () => {
    const doc = { a: { b: [1, 2, 3] }, "x/y": { "~": 1 } };
    applyOperation(doc, { op: "add", path: "/a/b/1", value: 9 });
    applyOperation(doc, { op: "remove", path: "/a/b/0" });
    applyOperation(doc, { op: "replace", path: "/x~1y/~0", value: 2 });
    expect(doc).toEqual({ a: { b: [9, 2, 3] }, "x/y": { "~": 2 } });
    expect(() => applyOperation(doc, { op: "remove", path: "/a/b/3" })).toThrow(/does not exist/);
    expect(() => applyOperation(doc, { op: "add", path: "/a/b/9", value: 1 })).toThrow(/out of range/);
    expect(() => applyOperation(doc, { op: "add", path: "a", value: 1 })).toThrow(/must start with/);
  });
});

describe("container image", () => {
  const dockerfile = readFileSync(join(MANIFESTS_DIR, "..", "Dockerfile"), "utf8");
  const stages = dockerfile.split(/^FROM /m).slice(1);
  const final = stages.at(-1)!;
  const dockerignore = readFileSync(join(MANIFESTS_DIR, "..", ".dockerignore"), "utf8").split("\n");

  it("is multi-stage with a shell-less, non-root final stage that runs the CLI on Node 24", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/ARG RUNTIME_IMAGE=gcr\.io\/distroless\/nodejs24-debian12:nonroot/);
    expect(dockerfile).toMatch(/ARG NODE_IMAGE=\S+:24-/);
    expect(final).not.toMatch(/^RUN /m);
    expect(final).toMatch(/^USER 65532:65532$/m);
    expect(final).toMatch(/^ENTRYPOINT \["\/nodejs\/bin\/node", "cli\/deputy\.ts"\]$/m);
    expect(dockerfile).toMatch(/npm ci --omit=dev --ignore-scripts/);
  });

  it("keeps secrets, tests and the local environment out of the build context", () => {
    for (const entry of [".git", ".testenv", ".env", ".env.*", "node_modules", "test", "bench"]) {
      expect(dockerignore).toContain(entry);
    }
    expect(dockerignore).toContain("!manifests/openbao/roles.yaml");
  });

  it("uses the user id the manifests run as", () => {
    for (const name of ["deputy-bot", "deputy-mcp", "deputy-executor"]) {
      expect(podSpec(find(rendered.prod, "Deployment", name)).securityContext).toMatchObject({
        runAsUser: 65532,
      });
    }
  });
});
