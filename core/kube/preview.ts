import type http from "node:http";
import type { KubeConfig } from "@kubernetes/client-node";
import { serviceAccountOf } from "../config/config.ts";
import { DeputyError, describeError } from "../errors.ts";
import type { Logger } from "../observability/logger.ts";
import { KubeApiError, type KubeStatus } from "./errors.ts";
import {
  JSON_ACCEPT,
  buildQuery,
  createKubeConnection,
  formatSeconds,
  kubeConfigCredentials,
  parseStatus,
  readBody,
  type KubeConnection,
  type KubeCredentials,
} from "./transport.ts";

/**
 * Server-side dry runs as Deputy's preview identity. The MCP server holds no
 * credential of that account: it sends each request with its own read
 * identity and `Impersonate-User: <preview account>`, which is the only right
 * its read identity has beyond reading (manifests/base/rbac/deputy-preview.yaml).
 * The preview account holds the write verbs of every action type, and an
 * admission policy (deputy-preview-guard.yaml) refuses every request of it
 * that is not a dry run.
 *
 * It fails closed: dry runs are sent only while the last self-check saw a
 * real (non-dry-run) write by the preview account refused by that policy and
 * the same request answered as a dry run.
 */

export interface PreviewRequest {
  method: "PATCH" | "POST" | "DELETE";
  /** API path, e.g. /apis/apps/v1/namespaces/shop/deployments/web */
  path: string;
  body?: unknown;
  /** content type for PATCH: application/apply-patch+yaml, application/strategic-merge-patch+json, application/merge-patch+json, application/json-patch+json; POST/DELETE: application/json */
  contentType?: string;
  /** extra query (fieldManager etc.); dryRun=All is always added by the client and cannot be removed */
  query?: Record<string, string>;
}

export interface PreviewAnswer {
  status: number;
  object: unknown;
  warnings: string[];
}

export type PreviewHealth =
  | { usable: true; checkedAt: string; sentence: string }
  | { usable: false; checkedAt: string; sentence: string };

export interface PreviewClient {
  /** Send the request as a server-side dry run (dryRun=All) as the preview identity. Throws KubeApiError (core/kube/errors.ts) on a non-2xx answer, with the API server's message. Parses `Warning` response headers (RFC 7234 form `299 - "text"`) into warnings. Refuses (throws DeputyError) while health is not usable. */
  dryRun(request: PreviewRequest, signal?: AbortSignal): Promise<PreviewAnswer>;
  /** The last health check result (initially unusable: "not checked yet"). */
  health(): PreviewHealth;
  /** Fail-closed self-check: one real write as the preview identity must be refused by the admission policy, and the same request accepted as a dry run. */
  check(): Promise<PreviewHealth>;
  /** Run check() now and then every intervalMs (default 5 min; every 30 s at most while unusable); stop(). */
  start(intervalMs?: number): void;
  stop(): void;
  close(): void;
}

export interface PreviewClientOptions {
  kubeConfig: KubeConfig;
  /** The preview service account's username, system:serviceaccount:<ns>:<name>. */
  identity: string;
  /** Where the self-check sends its eviction (any existing namespace). */
  probeNamespace: string;
  logger: Logger;
  /** Longest one request may take (default 10 s). */
  timeoutMs?: number;
}

/** The shipped admission policy (manifests/base/rbac/deputy-preview-guard.yaml) whose refusal the self-check requires. */
export const PREVIEW_POLICY_NAME = "deputy-preview-dry-run-only";
/** The pod (which should not exist) the self-check asks to evict for real: admission must refuse it. */
export const PREVIEW_PROBE_NAME = "deputy-preview-probe";
/** `details.rule` of the DeputyError dryRun throws while previews are off. */
export const PREVIEW_UNUSABLE_RULE = "preview-unusable";
export const DEFAULT_PREVIEW_CHECK_INTERVAL_MS = 5 * 60 * 1000;
const UNUSABLE_RECHECK_MS = 30_000;

const MAX_ANSWER_BYTES = 16 * 1024 * 1024;
const DEFAULT_CONTENT_TYPE: Record<PreviewRequest["method"], string> = {
  PATCH: "application/merge-patch+json",
  POST: JSON_ACCEPT,
  DELETE: JSON_ACCEPT,
};

/**
 * The texts of `Warning` response headers (RFC 7234: `299 - "text"`, several
 * per header separated by commas, backslash escapes in the quoted text).
 * Something that does not parse is kept as it came: a warning is never hidden.
 */
export function parseWarningHeaders(values: readonly string[]): string[] {
  const warnings: string[] = [];
  const add = (text: string): void => {
    if (text && !warnings.includes(text)) warnings.push(text);
  };
  for (const header of values) {
    let rest = header;
    for (;;) {
      rest = rest.replace(/^[\s,]+/, "");
      if (!rest) break;
      const head = /^(\d{3}) +(\S+) +"/.exec(rest);
      if (!head) {
        add(rest.trim());
        break;
      }
      let index = head[0].length;
      let text = "";
      while (index < rest.length && rest[index] !== '"') {
        if (rest[index] === "\\" && index + 1 < rest.length) index += 1;
        text += rest[index];
        index += 1;
      }
      rest = rest.slice(index + 1);
      // An optional quoted warn-date.
      rest = rest.replace(/^ +"[^"]*"/, "");
      add(text);
    }
  }
  return warnings;
}

interface RawAnswer {
  status: number;
  body: Buffer;
  warnings: string[];
}

/** The kubeconfig's credentials, acting as `identity`: the API server authorizes and admits as that user. */
function impersonating(credentials: KubeCredentials, identity: string): KubeCredentials {
  return {
    server: credentials.server,
    tls: () => credentials.tls(),
    async headers() {
      const headers = await credentials.headers();
      // A kubeconfig's own impersonation (`as`, `as-groups`) would change who acts: only ours counts.
      const own = Object.fromEntries(
        Object.entries(headers).filter(([name]) => !name.toLowerCase().startsWith("impersonate-")),
      );
      return { ...own, "impersonate-user": identity };
    },
  };
}

function queryWithDryRun(query: Record<string, string> | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(query ?? {})) {
    if (key.toLowerCase() === "dryrun") continue;
    result[key] = value;
  }
  result.dryRun = "All";
  return result;
}

function statusMessage(status: KubeStatus | undefined, body: Buffer): string {
  return status?.message?.trim() || body.toString("utf8").slice(0, 300) || "(no message)";
}

type Json = Record<string, unknown>;
const asObject = (value: unknown): Json =>
  value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Json) : {};
const asList = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
/** A label selector that selects everything: absent, or with no labels and no expressions. */
const selectsAll = (selector: unknown): boolean =>
  Object.keys(asObject(asObject(selector).matchLabels)).length === 0 &&
  asList(asObject(selector).matchExpressions).length === 0;

/**
 * Why the live admission policy and binding do not refuse every non-dry-run
 * write of the account (as shipped in manifests/base/rbac/deputy-preview-guard.yaml),
 * or undefined when they do: fail closed, every part that could narrow it is checked.
 */
export function policyProblem(policy: Json, binding: Json, identity: string): string | undefined {
  const spec = asObject(policy.spec);
  const constraints = asObject(spec.matchConstraints);
  const problems: string[] = [];
  if (spec.failurePolicy !== "Fail")
    problems.push(`its failurePolicy is ${String(spec.failurePolicy)}, not Fail`);
  const everything = asList(constraints.resourceRules).some((rule) => {
    const r = asObject(rule);
    const has = (field: string, value: string): boolean => asList(r[field]).includes(value);
    const operations = asList(r.operations);
    return (
      has("apiGroups", "*") &&
      has("apiVersions", "*") &&
      has("resources", "*/*") &&
      (operations.includes("*") ||
        ["CREATE", "UPDATE", "DELETE", "CONNECT"].every((operation) => operations.includes(operation))) &&
      (r.scope === undefined || r.scope === "*") &&
      asList(r.resourceNames).length === 0
    );
  });
  if (!everything) problems.push("its rules do not match every resource, subresource and write operation");
  if (asList(constraints.excludeResourceRules).length > 0) problems.push("it excludes some resources");
  if (!selectsAll(constraints.namespaceSelector) || !selectsAll(constraints.objectSelector)) {
    problems.push("it selects only some namespaces or objects");
  }
  const conditions = asList(spec.matchConditions).map((condition) => asObject(condition).expression);
  if (conditions.length !== 1 || conditions[0] !== `request.userInfo.username == '${identity}'`) {
    problems.push(`its match condition is not exactly the account's username (${identity})`);
  }
  if (
    !asList(spec.validations).some(
      (validation) => asObject(validation).expression === "request.dryRun == true",
    )
  ) {
    problems.push("it does not require request.dryRun == true");
  }
  const bound = asObject(binding.spec);
  if (bound.policyName !== PREVIEW_POLICY_NAME) problems.push("its binding names another policy");
  if (!asList(bound.validationActions).includes("Deny")) problems.push("its binding does not Deny");
  const resources = asObject(bound.matchResources);
  if (
    !selectsAll(resources.namespaceSelector) ||
    !selectsAll(resources.objectSelector) ||
    asList(resources.resourceRules).length > 0 ||
    asList(resources.excludeResourceRules).length > 0
  ) {
    problems.push("its binding narrows what it matches");
  }
  if (problems.length === 0) return undefined;
  return `the admission policy ${PREVIEW_POLICY_NAME} refuses the self-check's write but does not cover every write of ${identity}: ${problems.join("; ")}. Apply manifests/base/rbac/deputy-preview-guard.yaml as shipped.`;
}

export function createPreviewClient(options: PreviewClientOptions): PreviewClient {
  const { identity, probeNamespace, logger } = options;
  const account = serviceAccountOf(identity);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const connection: KubeConnection = createKubeConnection(
    impersonating(kubeConfigCredentials(options.kubeConfig), identity),
    {
      maxSockets: 4,
      userAgent: "deputy-preview",
      describeTimeout: (ms, server) =>
        `the Kubernetes API server at ${server} did not answer a dry run within ${formatSeconds(ms)}`,
    },
  );
  const serverName = connection.serverName;

  const send = async (
    method: string,
    path: string,
    query: Record<string, string>,
    body: unknown,
    contentType: string,
    signal: AbortSignal | undefined,
  ): Promise<RawAnswer> => {
    const deadline = AbortSignal.timeout(timeoutMs);
    const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
    try {
      const response: http.IncomingMessage = await connection.open({
        method,
        pathWithQuery: `${path}${buildQuery(query)}`,
        body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
        accept: JSON_ACCEPT,
        contentType,
        signal: combined,
        timeoutMs,
      });
      return {
        status: response.statusCode ?? 0,
        body: await readBody(response, MAX_ANSWER_BYTES),
        warnings: parseWarningHeaders(response.headersDistinct.warning ?? []),
      };
    } catch (error) {
      if (signal?.aborted) throw error;
      if (error instanceof DeputyError) throw error;
      const text = deadline.aborted
        ? `the Kubernetes API server at ${serverName} did not answer a dry run within ${formatSeconds(timeoutMs)}`
        : `the Kubernetes API server at ${serverName} could not be reached: ${describeError(error)}`;
      throw new DeputyError("UPSTREAM_FAILED", text, { cause: error, details: { server: serverName } });
    }
  };

  let current: PreviewHealth = {
    usable: false,
    checkedAt: new Date().toISOString(),
    sentence: "Proposals cannot be previewed yet: the preview identity has not been checked.",
  };

  const dryRun = async (request: PreviewRequest, signal?: AbortSignal): Promise<PreviewAnswer> => {
    if (!current.usable) {
      throw new DeputyError("UPSTREAM_FAILED", current.sentence, {
        details: { rule: PREVIEW_UNUSABLE_RULE, checkedAt: current.checkedAt },
      });
    }
    if (
      !/^\/(api|apis)\//.test(request.path) ||
      /[?#]/.test(request.path) ||
      /(^|\/)\.{1,2}(\/|$)/.test(request.path)
    ) {
      throw new DeputyError(
        "INPUT_INVALID",
        `a dry run's path must be an API path without a query or dot segments (got "${request.path.slice(0, 200)}")`,
      );
    }
    const answer = await send(
      request.method,
      request.path,
      queryWithDryRun(request.query),
      request.body,
      request.contentType ?? DEFAULT_CONTENT_TYPE[request.method],
      signal,
    );
    if (answer.status < 200 || answer.status >= 300) {
      throw new KubeApiError(
        request.method,
        request.path,
        answer.status,
        parseStatus(answer.body),
        answer.body.toString("utf8").slice(0, 300),
      );
    }
    let object: unknown;
    try {
      object = answer.body.length === 0 ? undefined : (JSON.parse(answer.body.toString("utf8")) as unknown);
    } catch (error) {
      throw new DeputyError(
        "UPSTREAM_FAILED",
        `the Kubernetes API server's dry-run answer to ${request.method} ${request.path} is not JSON`,
        { cause: error },
      );
    }
    return { status: answer.status, object, warnings: answer.warnings };
  };

  // The probe is an eviction of a pod that does not exist: admission runs before the pod is looked up, so
  // with the policy in place it is refused (403), and without it the API server answers 404 having changed
  // nothing. The self-check can never write, whatever the cluster's state.
  const probePath = `/api/v1/namespaces/${encodeURIComponent(probeNamespace)}/pods/${PREVIEW_PROBE_NAME}/eviction`;
  const probePod = `pod ${probeNamespace}/${PREVIEW_PROBE_NAME}`;
  const probeBody = {
    apiVersion: "policy/v1",
    kind: "Eviction",
    metadata: { name: PREVIEW_PROBE_NAME, namespace: probeNamespace },
  };
  const podMissing = (status: number, message: string): boolean =>
    status === 404 && message.includes(`pods "${PREVIEW_PROBE_NAME}" not found`);
  const off = "Proposals cannot be previewed";
  const unguarded = (what: string): string =>
    `DANGER: ${off}: a real write by the preview account ${identity} was NOT refused by admission (${what}). ` +
    `The admission policy ${PREVIEW_POLICY_NAME} is missing, unbound or does not name this account: ` +
    `apply manifests/base/rbac/deputy-preview-guard.yaml.`;

  /** What one real write (and then its dry run) by the preview account says about it. */
  const probe = async (): Promise<{ usable: boolean; sentence: string }> => {
    let real: RawAnswer;
    try {
      real = await send("POST", probePath, {}, probeBody, JSON_ACCEPT, undefined);
    } catch (error) {
      return { usable: false, sentence: `${off}: ${describeError(error)}` };
    }
    const message = statusMessage(parseStatus(real.body), real.body);
    if (real.status === 403 && message.includes(`ValidatingAdmissionPolicy '${PREVIEW_POLICY_NAME}'`)) {
      // One refused eviction shows the policy holds for evictions here; its shape shows it holds
      // for every write everywhere (a narrowed selector or rule would still refuse the probe).
      const narrowed = await policyShapeProblem();
      if (narrowed) return { usable: false, sentence: `${off}: ${narrowed}` };
      return dryRunProbe();
    }
    if (podMissing(real.status, message)) {
      return {
        usable: false,
        sentence: unguarded(
          `its eviction of ${probePod} reached the API server and changed nothing only because that pod does not exist`,
        ),
      };
    }
    if ((real.status >= 200 && real.status < 300) || real.status === 429) {
      return {
        usable: false,
        sentence: unguarded(
          `it asked to evict ${probePod} and the API server answered HTTP ${real.status}: ${message}`,
        ),
      };
    }
    if (real.status === 403 && /cannot impersonate/i.test(message)) {
      return {
        usable: false,
        sentence:
          `${off}: the read identity may not act as the preview account ${identity} ` +
          `(bind the Role deputy-preview-impersonator in ${account.namespace} to it): ${message}`,
      };
    }
    if (real.status === 403 && /cannot create resource/i.test(message)) {
      return {
        usable: false,
        sentence:
          `${off}: the preview account ${identity} may not evict pods in ${probeNamespace}, so Deputy cannot ` +
          `see admission refuse its real writes (bind the ClusterRole deputy-preview to it): ${message}`,
      };
    }
    if (real.status === 403) {
      return {
        usable: false,
        sentence:
          `${off}: a real write by the preview account ${identity} was refused, but not by the admission policy ` +
          `${PREVIEW_POLICY_NAME}, so nothing shows that policy holds: ${message}`,
      };
    }
    if (real.status === 401) {
      return {
        usable: false,
        sentence: `${off}: the API server at ${serverName} does not accept the read identity's credentials: ${message}`,
      };
    }
    if (real.status === 404) {
      return {
        usable: false,
        sentence: `${off}: the self-check's namespace ${probeNamespace} (DEPUTY_PREVIEW_PROBE_NAMESPACE) is not there: ${message}`,
      };
    }
    return {
      usable: false,
      sentence: `${off}: the self-check's write as the preview account got HTTP ${real.status}: ${message}`,
    };
  };

  /** Why the live policy or its binding does not cover every write of the account, or undefined. */
  const policyShapeProblem = async (): Promise<string | undefined> => {
    const read = async (resource: string): Promise<Record<string, unknown> | string> => {
      const path = `/apis/admissionregistration.k8s.io/v1/${resource}/${PREVIEW_POLICY_NAME}`;
      try {
        const answer = await send("GET", path, {}, undefined, JSON_ACCEPT, undefined);
        if (answer.status !== 200) {
          return `the ${resource} ${PREVIEW_POLICY_NAME} could not be read to check it covers every write (HTTP ${answer.status}: ${statusMessage(parseStatus(answer.body), answer.body)})`;
        }
        return JSON.parse(answer.body.toString("utf8")) as Record<string, unknown>;
      } catch (error) {
        return `the ${resource} ${PREVIEW_POLICY_NAME} could not be read: ${describeError(error)}`;
      }
    };
    const policy = await read("validatingadmissionpolicies");
    if (typeof policy === "string") return policy;
    const binding = await read("validatingadmissionpolicybindings");
    if (typeof binding === "string") return binding;
    return policyProblem(policy, binding, identity);
  };

  const dryRunProbe = async (): Promise<{ usable: boolean; sentence: string }> => {
    let answer: RawAnswer;
    try {
      answer = await send("POST", probePath, queryWithDryRun({}), probeBody, JSON_ACCEPT, undefined);
    } catch (error) {
      return { usable: false, sentence: `${off}: ${describeError(error)}` };
    }
    const message = statusMessage(parseStatus(answer.body), answer.body);
    // Past admission, the dry run finds no such pod: that is the answer expected.
    if ((answer.status >= 200 && answer.status < 300) || podMissing(answer.status, message)) {
      return {
        usable: true,
        sentence:
          `Proposals can be previewed: the API server refuses every real write by the preview account ${identity} ` +
          `(admission policy ${PREVIEW_POLICY_NAME}) and answers its dry runs.`,
      };
    }
    return {
      usable: false,
      sentence: `${off}: admission refuses the preview account's real write as it should, but the same request as a dry run got HTTP ${answer.status}: ${message}`,
    };
  };

  let inFlight: Promise<PreviewHealth> | undefined;
  const check = (): Promise<PreviewHealth> => {
    inFlight ??= (async () => {
      try {
        const result = await probe();
        const next: PreviewHealth = result.usable
          ? { usable: true, checkedAt: new Date().toISOString(), sentence: result.sentence }
          : { usable: false, checkedAt: new Date().toISOString(), sentence: result.sentence };
        if (next.usable !== current.usable || next.sentence !== current.sentence) {
          const fields = { identity, probeNamespace, usable: next.usable };
          if (next.usable) logger.info(fields, next.sentence);
          else if (next.sentence.startsWith("DANGER")) logger.error(fields, next.sentence);
          else logger.warn(fields, next.sentence);
        }
        current = next;
        return next;
      } finally {
        inFlight = undefined;
      }
    })();
    return inFlight;
  };

  // While previews are off, look again sooner: a policy just applied takes a moment to be enforced.
  let timer: NodeJS.Timeout | undefined;
  let generation = 0;
  const stop = (): void => {
    generation += 1;
    if (timer) clearTimeout(timer);
    timer = undefined;
  };
  const loop = (intervalMs: number, mine: number): void => {
    check()
      .catch((error: unknown): PreviewHealth => {
        logger.error({ err: describeError(error) }, "the preview self-check failed");
        return current;
      })
      .then(
        (result) => {
          if (mine !== generation) return;
          timer = setTimeout(
            () => loop(intervalMs, mine),
            result.usable ? intervalMs : Math.min(intervalMs, UNUSABLE_RECHECK_MS),
          );
          timer.unref();
        },
        () => undefined,
      );
  };

  return {
    dryRun,
    health: () => current,
    check,
    start(intervalMs = DEFAULT_PREVIEW_CHECK_INTERVAL_MS) {
      stop();
      loop(intervalMs, generation);
    },
    stop,
    close() {
      stop();
      connection.close();
    },
  };
}
