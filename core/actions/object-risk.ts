import { podTemplateOfWorkload, type PodTemplateChange } from "./pod-spec.ts";
import type { RiskFlag } from "./schema.ts";

/**
 * What a written object makes *other* parts of the cluster do, for the kinds
 * Deputy may apply that have no pod template (Service, Ingress,
 * HorizontalPodAutoscaler, PodDisruptionBudget, ConfigMap) and the metadata
 * every kind shares. Controllers act on these objects: kube-proxy routes
 * traffic for a Service's externalIPs, an ingress controller pastes snippet
 * annotations into its proxy configuration, an HPA rewrites its target's
 * replicas, a budget blocks every drain. The analysis runs on the API
 * server's dry-run result (after merge, defaulting and admission), so it sees
 * what will be stored, not what the manifest says.
 *
 * Refusals look at the whole result: Deputy never writes an object in that
 * state, whoever set the field first. Flags name only what the change adds
 * (compared with the live object), like the pod-spec flags.
 */

/** One object a write creates or changes. */
export interface ObjectChange {
  /** The object's kind ("Deployment", "Service"). */
  kind: string;
  /** "Deployment shop/web", for the sentences. */
  workload: string;
  /** The live object, when it exists. */
  before?: unknown;
  /** The object as the API server's dry run returned it. */
  after: unknown;
}

/** A refusal: the rule id for `refusal(rule, sentence)` and the sentence naming what and where. */
export interface ObjectRefusal {
  rule: string;
  sentence: string;
}

export interface ObjectRisks {
  refusals: ObjectRefusal[];
  flags: RiskFlag[];
}

export const SERVICE_EXTERNAL_IPS_RULE = "service-external-ips";
export const SERVICE_EXPOSURE_RULE = "service-exposure";
export const SERVICE_REDIRECT_RULE = "service-redirect";
export const INGRESS_SNIPPET_RULE = "ingress-snippet";
export const INGRESS_ANNOTATION_RULE = "ingress-annotation";
export const INGRESS_ROUTE_RULE = "ingress-route";
export const HPA_TARGET_RULE = "hpa-target";
export const PDB_BLOCKS_EVICTIONS_RULE = "pdb-blocks-evictions";
export const TRUST_ROOT_RULE = "trust-root";
export const CONFIGMAP_IMMUTABLE_RULE = "configmap-immutable";
export const OWNER_REFERENCE_RULE = "owner-reference";
export const FINALIZER_RULE = "finalizer";

type Json = Record<string, unknown>;

function obj(value: unknown): Json {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Json) : {};
}
function list(value: unknown): Json[] {
  return Array.isArray(value) ? value.map(obj) : [];
}
function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}
function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}
function added(after: readonly string[], before: readonly string[]): string[] {
  const old = new Set(before);
  return after.filter((line) => !old.has(line));
}
function labels(selector: Json): string {
  const entries = Object.entries(selector).map(([key, value]) => `${key}=${String(value)}`);
  return entries.length > 0 ? entries.sort().join(",") : "(none)";
}

/** The pod template part of a workload's change, for the pod-spec guardrails; undefined for other kinds. */
export function podTemplateChangeOf(change: ObjectChange): PodTemplateChange | undefined {
  const after = podTemplateOfWorkload(change.kind, change.after);
  if (after === undefined) return undefined;
  const before = change.before === undefined ? undefined : podTemplateOfWorkload(change.kind, change.before);
  return {
    workload: change.workload,
    kind: change.kind,
    ...(before === undefined ? {} : { before: before.spec }),
    after: after.spec,
    annotations: {
      ...(before === undefined ? {} : { before: obj(before.metadata).annotations }),
      after: obj(after.metadata).annotations,
    },
  };
}

/** Everything `change` makes controllers do that the approver must know or Deputy refuses. */
export function objectRisks(change: ObjectChange): ObjectRisks {
  const after = obj(change.after);
  const before = change.before === undefined ? undefined : obj(change.before);
  const risks: ObjectRisks = { refusals: [], flags: [] };
  metadataRisks(change.workload, after, before, risks);
  KIND_RISKS.get(change.kind)?.(change.workload, after, before, risks);
  return risks;
}

type KindRisks = (what: string, after: Json, before: Json | undefined, risks: ObjectRisks) => void;

/** Owners and finalizers: the garbage collector and controllers act on them for any kind. */
function metadataRisks(what: string, after: Json, before: Json | undefined, risks: ObjectRisks): void {
  const owners = (object: Json | undefined): string[] =>
    list(obj(object?.metadata).ownerReferences).map(
      (ref) => `${str(ref.kind) ?? "?"} ${str(ref.name) ?? "?"} (uid ${str(ref.uid) ?? "?"})`,
    );
  const newOwners = added(owners(after), owners(before));
  if (newOwners.length > 0) {
    risks.flags.push({
      rule: OWNER_REFERENCE_RULE,
      message: `${what} becomes owned by ${newOwners.join(", ")}: the garbage collector deletes it with its owner.`,
    });
  }
  const newFinalizers = added(
    strings(obj(after.metadata).finalizers),
    strings(obj(before?.metadata).finalizers),
  );
  if (newFinalizers.length > 0) {
    risks.flags.push({
      rule: FINALIZER_RULE,
      message: `${what} gets finalizer ${newFinalizers.join(", ")}: deleting it waits until a controller removes it.`,
    });
  }
}

const serviceRisks: KindRisks = (what, after, before, risks) => {
  const spec = obj(after.spec);
  const oldSpec = obj(before?.spec);
  const externalIPs = strings(spec.externalIPs);
  if (externalIPs.length > 0) {
    risks.refusals.push({
      rule: SERVICE_EXTERNAL_IPS_RULE,
      sentence: `${what} sets externalIPs ${externalIPs.join(", ")}: every node would send traffic for those addresses to its pods, whoever owns them (CVE-2020-8554). Deputy never writes a Service with externalIPs; change it through Git.`,
    });
  }
  const type = str(spec.type) ?? "ClusterIP";
  const oldType = before ? (str(oldSpec.type) ?? "ClusterIP") : undefined;
  if ((type === "LoadBalancer" || type === "NodePort") && type !== oldType) {
    const ports = list(spec.ports)
      .map(
        (port) =>
          `${String(port.port ?? "?")}${port.nodePort === undefined ? "" : ` (node port ${String(port.nodePort)})`}`,
      )
      .join(", ");
    const ranges = strings(spec.loadBalancerSourceRanges);
    const reach =
      type === "LoadBalancer"
        ? ranges.length > 0
          ? `through a cloud load balancer, from ${ranges.join(", ")}`
          : "through a cloud load balancer, from any address"
        : "on every node's address";
    risks.flags.push({
      rule: SERVICE_EXPOSURE_RULE,
      message: `${what} becomes type ${type}${oldType ? ` (was ${oldType})` : ""}: its pods are reachable from outside the cluster ${reach}${ports ? `, port(s) ${ports}` : ""}.`,
    });
  }
  const redirects: string[] = [];
  const externalName = str(spec.externalName);
  if (type === "ExternalName" && externalName !== undefined && externalName !== str(oldSpec.externalName)) {
    redirects.push(`clients of it are sent to ${externalName} (ExternalName)`);
  }
  if (type !== "ExternalName") {
    const selector = obj(spec.selector);
    const oldSelector = obj(oldSpec.selector);
    if (Object.keys(selector).length === 0) {
      if (!before || Object.keys(oldSelector).length > 0) {
        redirects.push("it has no selector: its traffic goes to whatever endpoints are written for it");
      }
    } else if (before && labels(selector) !== labels(oldSelector)) {
      redirects.push(
        `its traffic now goes to the pods matching ${labels(selector)} (was ${labels(oldSelector)})`,
      );
    }
  }
  if (redirects.length > 0) {
    risks.flags.push({ rule: SERVICE_REDIRECT_RULE, message: `${what}: ${redirects.join("; ")}.` });
  }
};

/** Annotations the ingress controller acts on beyond routing, with what it does. */
const RISKY_INGRESS_ANNOTATIONS: ReadonlyMap<string, string> = new Map([
  ["nginx.ingress.kubernetes.io/auth-url", "each request is first sent, with its credentials, to that URL"],
  ["nginx.ingress.kubernetes.io/auth-signin", "clients are sent to that sign-in URL"],
  ["nginx.ingress.kubernetes.io/auth-secret", "the controller reads that Secret"],
  ["nginx.ingress.kubernetes.io/auth-tls-secret", "the controller reads that Secret"],
  [
    "nginx.ingress.kubernetes.io/auth-tls-match-cn",
    "it is pasted into the proxy configuration (CVE-2025-1097)",
  ],
  ["nginx.ingress.kubernetes.io/proxy-ssl-secret", "the controller reads that Secret"],
  ["nginx.ingress.kubernetes.io/mirror-target", "every request is copied to that target"],
  ["nginx.ingress.kubernetes.io/mirror-host", "every request is copied with that Host"],
  ["nginx.ingress.kubernetes.io/permanent-redirect", "clients are redirected there"],
  ["nginx.ingress.kubernetes.io/temporal-redirect", "clients are redirected there"],
  ["nginx.ingress.kubernetes.io/upstream-vhost", "the Host header sent to the backend is rewritten"],
]);

/** Any annotation whose name (after the prefix) mentions a snippet: raw proxy configuration. */
function isSnippetAnnotation(key: string): boolean {
  const name = key.slice(key.indexOf("/") + 1).toLowerCase();
  return name.includes("snippet");
}

function ingressRoutes(spec: Json): string[] {
  const backend = (value: unknown): string => {
    const service = obj(obj(value).service);
    const port = obj(service.port);
    if (service.name !== undefined) {
      return `Service ${str(service.name) ?? "?"}:${String(port.number ?? port.name ?? "?")}`;
    }
    const resource = obj(obj(value).resource);
    return `${str(resource.kind) ?? "?"} ${str(resource.name) ?? "?"}`;
  };
  const routes: string[] = [];
  if (spec.defaultBackend !== undefined)
    routes.push(`every unmatched request to ${backend(spec.defaultBackend)}`);
  const tls = new Set(list(spec.tls).flatMap((entry) => strings(entry.hosts)));
  for (const rule of list(spec.rules)) {
    const host = str(rule.host) ?? "*";
    const scheme = tls.has(host) ? "https" : "http";
    for (const path of list(obj(rule.http).paths)) {
      routes.push(`${scheme}://${host}${str(path.path) ?? "/"} to ${backend(path.backend)}`);
    }
  }
  return routes;
}

const ingressRisks: KindRisks = (what, after, before, risks) => {
  const annotations = obj(obj(after.metadata).annotations);
  const oldAnnotations = obj(obj(before?.metadata).annotations);
  const snippets = Object.keys(annotations).filter(isSnippetAnnotation);
  if (snippets.length > 0) {
    risks.refusals.push({
      rule: INGRESS_SNIPPET_RULE,
      sentence: `${what} sets annotation ${snippets.join(", ")}: a snippet pastes arbitrary configuration into the ingress controller's proxy, which can read its Secrets (CVE-2021-25742). Deputy never writes snippet annotations; change the Ingress through Git.`,
    });
  }
  const risky = Object.entries(annotations)
    .filter(([key, value]) => RISKY_INGRESS_ANNOTATIONS.has(key) && oldAnnotations[key] !== value)
    .map(([key, value]) => `${key}: ${String(value)} (${RISKY_INGRESS_ANNOTATIONS.get(key) ?? ""})`);
  if (risky.length > 0) {
    risks.flags.push({ rule: INGRESS_ANNOTATION_RULE, message: `${what} sets ${risky.join("; ")}.` });
  }
  const spec = obj(after.spec);
  const oldSpec = obj(before?.spec);
  const routes = added(ingressRoutes(spec), ingressRoutes(oldSpec));
  const className = str(spec.ingressClassName);
  const classChanged = before !== undefined && className !== str(oldSpec.ingressClassName);
  if (routes.length > 0 || classChanged) {
    const parts = [
      ...(routes.length > 0 ? [`routes ${routes.join(", ")} from outside the cluster`] : []),
      ...(classChanged
        ? [
            `is now served by ingress class ${className ?? "(default)"} (was ${str(oldSpec.ingressClassName) ?? "(default)"})`,
          ]
        : []),
    ];
    risks.flags.push({ rule: INGRESS_ROUTE_RULE, message: `${what} ${parts.join("; ")}.` });
  }
};

const hpaRisks: KindRisks = (what, after, before, risks) => {
  // Compared with its API group (a custom resource may share a kind's name), shown without apps/v1.
  const target = (object: Json | undefined): string | undefined => {
    const ref = obj(obj(object?.spec).scaleTargetRef);
    if (ref.name === undefined && ref.kind === undefined) return undefined;
    const namespace = str(obj(object?.metadata).namespace);
    const apiVersion = str(ref.apiVersion);
    return `${str(ref.kind) ?? "?"} ${namespace ? `${namespace}/` : ""}${str(ref.name) ?? "?"}${apiVersion === undefined || apiVersion === "apps/v1" ? "" : ` of ${apiVersion}`}`;
  };
  const now = target(after);
  const was = target(before);
  if (now === undefined || now === was) return;
  const spec = obj(after.spec);
  const bounds = `between ${String(spec.minReplicas ?? 1)} and ${String(spec.maxReplicas ?? "?")} replicas`;
  risks.flags.push({
    rule: HPA_TARGET_RULE,
    message:
      was === undefined
        ? `${what} will set the replicas of ${now}, ${bounds}.`
        : `${what} now sets the replicas of ${now} (was ${was}), ${bounds}: it takes over a different workload.`,
  });
};

function budgetBlocks(pdb: Json): string[] {
  const spec = obj(pdb.spec);
  const found: string[] = [];
  const maxUnavailable = spec.maxUnavailable;
  if (maxUnavailable === 0 || (typeof maxUnavailable === "string" && /^0+%?$/.test(maxUnavailable.trim()))) {
    found.push(`maxUnavailable ${String(maxUnavailable)}: no pod it covers may be evicted`);
  }
  const minAvailable = spec.minAvailable;
  const expected = obj(pdb.status).expectedPods;
  if (typeof minAvailable === "string" && /^0*100%$/.test(minAvailable.trim())) {
    found.push(`minAvailable ${minAvailable}: no pod it covers may be evicted`);
  } else if (
    typeof minAvailable === "number" &&
    typeof expected === "number" &&
    expected > 0 &&
    minAvailable >= expected
  ) {
    // The dry run computes no status: the live budget's count is the best known one.
    found.push(
      `minAvailable ${minAvailable} is at least the ${expected} pod(s) it covers: none may be evicted`,
    );
  }
  const selector = spec.selector;
  if (selector !== undefined && selector !== null) {
    const s = obj(selector);
    if (Object.keys(obj(s.matchLabels)).length === 0 && list(s.matchExpressions).length === 0) {
      found.push("its selector is empty: it covers every pod in the namespace");
    }
  }
  return found;
}

const pdbRisks: KindRisks = (what, after, before, risks) => {
  // The live status describes the pods the budget covers now; the result has none of its own.
  const withStatus = { ...after, status: after.status ?? before?.status };
  const found = added(budgetBlocks(withStatus), before ? budgetBlocks(before) : []);
  if (found.length > 0) {
    risks.flags.push({
      rule: PDB_BLOCKS_EVICTIONS_RULE,
      message: `${what}: ${found.join("; ")}. Node drains and evictions of those pods will be refused.`,
    });
  }
};

/** ConfigMaps the cluster publishes into every namespace as trust anchors for its pods. */
const TRUST_ROOT_CONFIGMAPS = new Set(["kube-root-ca.crt", "istio-ca-root-cert"]);

const configMapRisks: KindRisks = (what, after, before, risks) => {
  const name = str(obj(after.metadata).name) ?? "";
  if (TRUST_ROOT_CONFIGMAPS.has(name)) {
    risks.refusals.push({
      rule: TRUST_ROOT_RULE,
      sentence: `${what} holds the CA certificates the namespace's pods trust, published by the cluster; Deputy never writes it.`,
    });
  }
  if (after.immutable === true && before?.immutable !== true) {
    risks.flags.push({
      rule: CONFIGMAP_IMMUTABLE_RULE,
      message: `${what} becomes immutable: it can then only be deleted and created again.`,
    });
  }
};

// A Map, not an object literal: a kind named "constructor" must find nothing.
const KIND_RISKS: ReadonlyMap<string, KindRisks> = new Map([
  ["Service", serviceRisks],
  ["Ingress", ingressRisks],
  ["HorizontalPodAutoscaler", hpaRisks],
  ["PodDisruptionBudget", pdbRisks],
  ["ConfigMap", configMapRisks],
]);

/** Kinds with a rule of their own here; the others are workloads, covered by the pod-spec analysis. */
export const KINDS_WITH_OBJECT_RISKS: readonly string[] = [...KIND_RISKS.keys()];
