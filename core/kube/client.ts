import http from "node:http";
import https from "node:https";
import type { Readable } from "node:stream";
import type { KubeConfig } from "@kubernetes/client-node";
import type { ApiConstructor, ApiType } from "@kubernetes/client-node";
import { DeputyError, describeError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { KubeApiError, type KubeStatus } from "./errors.ts";
import { createLimiter, type Limiter } from "./limiter.ts";
import { createSingleFlight } from "./single-flight.ts";
import {
  DEFAULT_RETRY,
  backoffDelay,
  isRetryableNetworkError,
  isRetryableStatus,
  parseRetryAfter,
  sleep,
  type RetryPolicy,
} from "./retry.ts";
import { tailLogStream, type LogTail } from "./log-tail.ts";
import { createDiscovery, type Discovery } from "./discovery.ts";
import type {
  DaemonSet,
  Deployment,
  KubeEvent,
  Namespace,
  Node,
  Pod,
  PodDisruptionBudget,
  ReplicaSet,
  Service,
  StatefulSet,
  WireList,
} from "./types.ts";
import { inSpan, SpanKind } from "../tracing.ts";

const KUBE_SPAN = { kind: SpanKind.CLIENT };

/**
 * Deputy's typed Kubernetes client. Every read in Deputy goes through here:
 * a per-cluster concurrency limit, single-flight coalescing of identical
 * concurrent GETs, retries with capped exponential backoff and full jitter on
 * 429/5xx, list pagination that restarts on 410 Gone instead of returning
 * partial data, and log streaming with bounded memory. It speaks raw JSON over
 * a keep-alive agent; credentials come from a client-node KubeConfig.
 */

export type Query = Record<string, string | number | boolean | undefined>;

export interface KubeRequestEvent {
  method: string;
  path: string;
  status: number | undefined;
  attempt: number;
  durationMs: number;
  error?: string;
}

export interface KubeStats {
  /** HTTP requests actually sent to the API server (retries included). */
  requests: number;
  /** Calls answered by joining an identical request already in flight. */
  coalesced: number;
  retries: number;
  /** Lists restarted because a continue token expired (410 Gone). */
  listRestarts: number;
  active: number;
  waiting: number;
}

export interface KubeClientOptions {
  maxConcurrency?: number;
  logger?: Logger;
  retry?: Partial<RetryPolicy>;
  /** Metrics hook: called once per HTTP request sent. */
  onRequest?: (event: KubeRequestEvent) => void;
  /** Injected randomness for the jitter (tests). */
  random?: () => number;
  /** Socket inactivity timeout for ordinary calls. */
  requestTimeoutMs?: number;
  /**
   * Longest one call may take, waiting for a slot and retries included
   * (default 10 s). Kept well under the MCP request timeout (60 s) so a
   * frozen API server is reported as such, not as the MCP call timing out.
   */
  callTimeoutMs?: number;
  /** Largest JSON body accepted, to keep a runaway list from exhausting memory. */
  maxResponseBytes?: number;
}

export interface ListOptions {
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  /** One page of at most `limit` items; omit to read every page. */
  limit?: number | undefined;
  continue?: string | undefined;
  /** When reading every page, stop after this many items (default 10,000). */
  maxItems?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface ListResult<T> {
  items: T[];
  /** Token for the next page, when there is one. */
  continue: string | undefined;
  /** How many items are left after this page, when the API server knows. */
  remainingItemCount: number | undefined;
  resourceVersion: string | undefined;
  /** How many times the list restarted from the beginning after a 410 Gone. */
  restarts: number;
  /** True when maxItems stopped a full read early. */
  truncated: boolean;
}

export interface LogOptions {
  container?: string | undefined;
  tailLines?: number | undefined;
  sinceSeconds?: number | undefined;
  previous?: boolean | undefined;
  timestamps?: boolean | undefined;
  /** Keep only matching lines; the whole log (up to maxScanBytes) is scanned for them. */
  grep?: RegExp | undefined;
  maxLineChars?: number | undefined;
  maxScanBytes?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface RequestOptions {
  method?: "GET" | "POST";
  query?: Query | undefined;
  body?: unknown;
  accept?: string;
  signal?: AbortSignal | undefined;
  /** Retry 429/5xx and network errors (default: true for GET only). */
  retry?: boolean;
}

export interface KubeClients {
  readonly kubeConfig: KubeConfig;
  /** API server URL (never credentials). */
  readonly server: string;
  /** A JSON request; GETs are coalesced and retried. */
  request<T>(path: string, options?: RequestOptions): Promise<T>;
  get<T>(path: string, query?: Query, signal?: AbortSignal): Promise<T>;
  list<T>(path: string, options?: ListOptions): Promise<ListResult<T>>;
  /** A raw response stream; it holds a concurrency slot until it ends. */
  stream(path: string, query?: Query, signal?: AbortSignal): Promise<Readable>;
  core: {
    listNamespaces(options?: ListOptions): Promise<ListResult<Namespace>>;
    readNamespace(name: string, signal?: AbortSignal): Promise<Namespace>;
    listPods(namespace: string | undefined, options?: ListOptions): Promise<ListResult<Pod>>;
    readPod(namespace: string, name: string, signal?: AbortSignal): Promise<Pod>;
    listNodes(options?: ListOptions): Promise<ListResult<Node>>;
    readNode(name: string, signal?: AbortSignal): Promise<Node>;
    listEvents(namespace: string | undefined, options?: ListOptions): Promise<ListResult<KubeEvent>>;
    listServices(namespace: string | undefined, options?: ListOptions): Promise<ListResult<Service>>;
  };
  apps: {
    listDeployments(namespace: string | undefined, options?: ListOptions): Promise<ListResult<Deployment>>;
    readDeployment(namespace: string, name: string, signal?: AbortSignal): Promise<Deployment>;
    listReplicaSets(namespace: string | undefined, options?: ListOptions): Promise<ListResult<ReplicaSet>>;
    listStatefulSets(namespace: string | undefined, options?: ListOptions): Promise<ListResult<StatefulSet>>;
    readStatefulSet(namespace: string, name: string, signal?: AbortSignal): Promise<StatefulSet>;
    listDaemonSets(namespace: string | undefined, options?: ListOptions): Promise<ListResult<DaemonSet>>;
  };
  policy: {
    listPodDisruptionBudgets(
      namespace: string | undefined,
      options?: ListOptions,
    ): Promise<ListResult<PodDisruptionBudget>>;
  };
  events: {
    /** Events about one object, oldest first. */
    forObject(
      target: { kind: string; namespace?: string | undefined; name: string; uid?: string | undefined },
      signal?: AbortSignal,
    ): Promise<KubeEvent[]>;
  };
  logs: {
    /** The tail of a container's log, streamed with bounded memory. */
    tail(namespace: string, pod: string, options?: LogOptions): Promise<LogTail>;
  };
  discovery: Discovery;
  /** A client-node typed API on the same credentials (for writes with a minted token). */
  api<T extends ApiType>(constructor: ApiConstructor<T>): T;
  stats(): KubeStats;
  close(): void;
}

const JSON_ACCEPT = "application/json";

function buildQuery(query: Query | undefined): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === "") continue;
    params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

function segment(value: string): string {
  return encodeURIComponent(value);
}

function ns(namespace: string | undefined): string {
  return namespace ? `/namespaces/${segment(namespace)}` : "";
}

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export function createKubeClients(kubeConfig: KubeConfig, options: KubeClientOptions = {}): KubeClients {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster)
    throw new DeputyError("CONFIG_INVALID", "the Kubernetes configuration has no current cluster");
  const serverUrl = new URL(cluster.server);
  const basePath = serverUrl.pathname.replace(/\/$/, "");
  const isHttps = serverUrl.protocol === "https:";
  const retryPolicy: RetryPolicy = { ...DEFAULT_RETRY, ...options.retry };
  const random = options.random ?? Math.random;
  const maxConcurrency = options.maxConcurrency ?? 8;
  const limiter: Limiter = createLimiter(maxConcurrency);
  const flights = createSingleFlight();
  const callTimeoutMs = options.callTimeoutMs ?? 10_000;
  const requestTimeoutMs = Math.min(options.requestTimeoutMs ?? 30_000, callTimeoutMs);
  const serverName = `${serverUrl.protocol}//${serverUrl.host}`;
  const notAnswering = (ms: number, cause?: unknown): DeputyError =>
    new DeputyError(
      "UPSTREAM_FAILED",
      `the Kubernetes API server at ${serverName} did not answer within ${formatSeconds(ms)}`,
      { cause, details: { server: serverName, timeoutMs: ms } },
    );
  const maxResponseBytes = options.maxResponseBytes ?? 64 * 1024 * 1024;
  const logger = options.logger;
  const counters = { requests: 0, coalesced: 0, retries: 0, listRestarts: 0 };

  let agentPromise: Promise<http.Agent> | undefined;
  const agent = (): Promise<http.Agent> => {
    agentPromise ??= (async () => {
      const tls: https.RequestOptions = {};
      await kubeConfig.applyToHTTPSOptions(tls);
      const common = { keepAlive: true, maxSockets: maxConcurrency + 4 };
      if (!isHttps) return new http.Agent(common);
      return new https.Agent({
        ...common,
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        pfx: tls.pfx,
        passphrase: tls.passphrase,
        servername: tls.servername,
        ...(tls.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: tls.rejectUnauthorized }),
      });
    })();
    return agentPromise;
  };

  /** Headers from the kubeconfig's authenticator, fetched per request so rotated tokens are used. */
  const authHeaders = async (): Promise<http.OutgoingHttpHeaders> => {
    const opts: https.RequestOptions = {};
    await kubeConfig.applyToHTTPSOptions(opts);
    const headers: http.OutgoingHttpHeaders = { ...(opts.headers as http.OutgoingHttpHeaders | undefined) };
    if (opts.auth) headers.authorization = `Basic ${Buffer.from(opts.auth).toString("base64")}`;
    return headers;
  };

  const open = async (
    method: string,
    pathWithQuery: string,
    body: string | undefined,
    accept: string,
    signal: AbortSignal | undefined,
    timeoutMs: number,
  ): Promise<http.IncomingMessage> => {
    const [dispatcher, headers] = await Promise.all([agent(), authHeaders()]);
    return new Promise((resolve, reject) => {
      const request = (isHttps ? https : http).request(
        {
          protocol: serverUrl.protocol,
          hostname: serverUrl.hostname,
          port: serverUrl.port || (isHttps ? 443 : 80),
          path: `${basePath}${pathWithQuery}`,
          method,
          agent: dispatcher,
          headers: {
            ...headers,
            accept,
            "user-agent": "deputy",
            ...(body === undefined
              ? {}
              : { "content-type": "application/json", "content-length": Buffer.byteLength(body) }),
          },
          signal,
          timeout: timeoutMs,
        },
        resolve,
      );
      request.on("timeout", () => {
        const error = Object.assign(
          new Error(
            `the Kubernetes API server at ${serverName} did not answer within ${formatSeconds(timeoutMs)}`,
          ),
          { code: "ETIMEDOUT" },
        );
        request.destroy(error);
      });
      request.on("error", reject);
      request.end(body);
    });
  };

  const readBody = async (response: http.IncomingMessage): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response) {
      const buffer = chunk as Buffer;
      size += buffer.length;
      if (size > maxResponseBytes) {
        response.destroy();
        throw new DeputyError(
          "UPSTREAM_FAILED",
          `the Kubernetes API response exceeded ${Math.round(maxResponseBytes / 1048576)} MB; narrow the request`,
        );
      }
      chunks.push(buffer);
    }
    return Buffer.concat(chunks);
  };

  const parseStatus = (body: Buffer): KubeStatus | undefined => {
    try {
      const parsed = JSON.parse(body.toString("utf8")) as unknown;
      return parsed && typeof parsed === "object" ? (parsed as KubeStatus) : undefined;
    } catch {
      return undefined;
    }
  };

  /** One attempt: a slot, a request, a full body. */
  const attempt = async (
    method: string,
    pathWithQuery: string,
    body: string | undefined,
    accept: string,
    signal: AbortSignal | undefined,
    number: number,
  ): Promise<RawResponse> => {
    const started = performance.now();
    const path = pathWithQuery.split("?")[0] ?? pathWithQuery;
    return limiter.run(async () => {
      counters.requests += 1;
      try {
        const response = await open(method, pathWithQuery, body, accept, signal, requestTimeoutMs);
        const raw = {
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: await readBody(response),
        };
        options.onRequest?.({
          method,
          path,
          status: raw.status,
          attempt: number,
          durationMs: performance.now() - started,
        });
        return raw;
      } catch (error) {
        options.onRequest?.({
          method,
          path,
          status: undefined,
          attempt: number,
          durationMs: performance.now() - started,
          error: describeError(error),
        });
        throw error;
      }
    }, signal);
  };

  const execute = async (path: string, opts: RequestOptions): Promise<RawResponse> => {
    const method = opts.method ?? "GET";
    const pathWithQuery = `${path}${buildQuery(opts.query)}`;
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const accept = opts.accept ?? JSON_ACCEPT;
    const retryable = opts.retry ?? method === "GET";
    // One deadline for the whole call: slot, attempts and backoff sleeps.
    const deadline = AbortSignal.timeout(callTimeoutMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, deadline]) : deadline;
    for (let number = 1; ; number++) {
      let response: RawResponse;
      try {
        response = await attempt(method, pathWithQuery, body, accept, signal, number);
      } catch (error) {
        if (opts.signal?.aborted) throw error;
        if (deadline.aborted) throw notAnswering(callTimeoutMs, error);
        if (retryable && number < retryPolicy.maxAttempts && isRetryableNetworkError(error)) {
          counters.retries += 1;
          const delay = backoffDelay(number, retryPolicy, random);
          logger?.debug(
            { path, attempt: number, delay, err: describeError(error) },
            "kube retry after error",
          );
          await sleep(delay, signal).catch((sleepError: unknown) => {
            throw opts.signal?.aborted ? sleepError : notAnswering(callTimeoutMs, error);
          });
          continue;
        }
        throw new DeputyError(
          "UPSTREAM_FAILED",
          `the Kubernetes API server at ${serverName} could not be reached: ${describeError(error)}`,
          { cause: error },
        );
      }
      if (response.status >= 200 && response.status < 300) return response;
      if (retryable && isRetryableStatus(response.status) && number < retryPolicy.maxAttempts) {
        counters.retries += 1;
        const delay = backoffDelay(
          number,
          retryPolicy,
          random,
          parseRetryAfter(response.headers["retry-after"]),
        );
        logger?.debug({ path, status: response.status, attempt: number, delay }, "kube retry");
        await sleep(delay, signal).catch((sleepError: unknown) => {
          throw opts.signal?.aborted ? sleepError : notAnswering(callTimeoutMs);
        });
        continue;
      }
      const status = parseStatus(response.body);
      throw new KubeApiError(
        method,
        path,
        response.status,
        status,
        response.body.toString("utf8").slice(0, 300),
      );
    }
  };

  const request = async <T>(path: string, opts: RequestOptions = {}): Promise<T> => {
    const method = opts.method ?? "GET";
    const run = async (effective: RequestOptions = opts): Promise<T> => {
      const response = await inSpan(`kube ${method}`, KUBE_SPAN, () => execute(path, effective));
      const text = response.body.toString("utf8");
      try {
        return JSON.parse(text) as T;
      } catch (error) {
        throw new DeputyError(
          "UPSTREAM_FAILED",
          `the Kubernetes API returned something other than JSON for ${path}`,
          {
            cause: error,
          },
        );
      }
    };
    if (method !== "GET") return run();
    // Coalesce identical concurrent GETs. The caller's abort signal is not
    // shared: a joiner that gives up simply stops waiting.
    const key = `${path}${buildQuery(opts.query)}|${opts.accept ?? JSON_ACCEPT}`;
    // The shared request must not die with the first caller's signal; the
    // request timeout bounds it instead.
    const flight = flights.do(key, () => run({ ...opts, signal: undefined }));
    if (flight.shared) counters.coalesced += 1;
    if (!opts.signal) return flight.promise;
    const signal = opts.signal;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void =>
        reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      flight.promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  };

  const get = <T>(path: string, query?: Query, signal?: AbortSignal): Promise<T> =>
    request<T>(path, { query, signal });

  const list = async <T>(path: string, opts: ListOptions = {}): Promise<ListResult<T>> => {
    const base: Query = { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector };
    let restarts = 0;
    if (opts.limit !== undefined) {
      // One page. An expired continue token restarts from the first page.
      let token = opts.continue;
      for (;;) {
        try {
          const page = await get<WireList<T>>(
            path,
            { ...base, limit: opts.limit, continue: token },
            opts.signal,
          );
          return {
            items: page.items ?? [],
            continue: page.metadata?.continue || undefined,
            remainingItemCount: page.metadata?.remainingItemCount,
            resourceVersion: page.metadata?.resourceVersion,
            restarts,
            truncated: false,
          };
        } catch (error) {
          if (error instanceof KubeApiError && error.status === 410 && token) {
            counters.listRestarts += 1;
            restarts += 1;
            logger?.info({ path }, "continue token expired (410 Gone); restarting the list");
            token = undefined;
            continue;
          }
          throw error;
        }
      }
    }
    // Every page, restarting from scratch (up to 3 times) if a token expires midway.
    const maxItems = opts.maxItems ?? 10_000;
    const pageSize = Math.min(500, maxItems);
    for (;;) {
      const items: T[] = [];
      let token: string | undefined = opts.continue;
      let resourceVersion: string | undefined;
      let remaining: number | undefined;
      try {
        do {
          const page = await get<WireList<T>>(
            path,
            { ...base, limit: pageSize, continue: token },
            opts.signal,
          );
          items.push(...(page.items ?? []));
          token = page.metadata?.continue || undefined;
          remaining = page.metadata?.remainingItemCount;
          resourceVersion ??= page.metadata?.resourceVersion;
        } while (token && items.length < maxItems);
        const truncated = token !== undefined;
        return {
          items: items.slice(0, maxItems),
          continue: token,
          remainingItemCount: truncated ? remaining : undefined,
          resourceVersion,
          restarts,
          truncated,
        };
      } catch (error) {
        if (error instanceof KubeApiError && error.status === 410 && restarts < 3) {
          counters.listRestarts += 1;
          restarts += 1;
          logger?.info({ path, restarts }, "continue token expired (410 Gone) mid-list; restarting");
          opts = { ...opts, continue: undefined };
          continue;
        }
        throw error;
      }
    }
  };

  const stream = async (path: string, query?: Query, signal?: AbortSignal): Promise<Readable> => {
    const release = await limiter.acquire(signal);
    const pathWithQuery = `${path}${buildQuery(query)}`;
    const started = performance.now();
    counters.requests += 1;
    let response: http.IncomingMessage;
    try {
      // Inactivity bound: a log that stops flowing for this long is a server that stopped answering.
      response = await open("GET", pathWithQuery, undefined, "*/*", signal, callTimeoutMs);
    } catch (error) {
      release();
      options.onRequest?.({
        method: "GET",
        path,
        status: undefined,
        attempt: 1,
        durationMs: performance.now() - started,
        error: describeError(error),
      });
      throw new DeputyError(
        "UPSTREAM_FAILED",
        `the Kubernetes API server at ${serverName} could not be reached: ${describeError(error)}`,
        {
          cause: error,
        },
      );
    }
    const status = response.statusCode ?? 0;
    options.onRequest?.({ method: "GET", path, status, attempt: 1, durationMs: performance.now() - started });
    if (status < 200 || status >= 300) {
      try {
        const body = await readBody(response);
        throw new KubeApiError("GET", path, status, parseStatus(body), body.toString("utf8").slice(0, 300));
      } finally {
        release();
      }
    }
    response.once("close", release);
    response.once("end", release);
    response.once("error", release);
    return response;
  };

  const discovery = createDiscovery(get, (path, accept, signal) => request(path, { accept, signal }));

  const clients: KubeClients = {
    kubeConfig,
    server: `${serverUrl.protocol}//${serverUrl.host}${basePath}`,
    request,
    get,
    list,
    stream,
    core: {
      listNamespaces: (o) => list<Namespace>("/api/v1/namespaces", o),
      readNamespace: (name, signal) =>
        get<Namespace>(`/api/v1/namespaces/${segment(name)}`, undefined, signal),
      listPods: (namespace, o) => list<Pod>(`/api/v1${ns(namespace)}/pods`, o),
      readPod: (namespace, name, signal) =>
        get<Pod>(`/api/v1${ns(namespace)}/pods/${segment(name)}`, undefined, signal),
      listNodes: (o) => list<Node>("/api/v1/nodes", o),
      readNode: (name, signal) => get<Node>(`/api/v1/nodes/${segment(name)}`, undefined, signal),
      listEvents: (namespace, o) => list<KubeEvent>(`/api/v1${ns(namespace)}/events`, o),
      listServices: (namespace, o) => list<Service>(`/api/v1${ns(namespace)}/services`, o),
    },
    apps: {
      listDeployments: (namespace, o) => list<Deployment>(`/apis/apps/v1${ns(namespace)}/deployments`, o),
      readDeployment: (namespace, name, signal) =>
        get<Deployment>(`/apis/apps/v1${ns(namespace)}/deployments/${segment(name)}`, undefined, signal),
      listReplicaSets: (namespace, o) => list<ReplicaSet>(`/apis/apps/v1${ns(namespace)}/replicasets`, o),
      listStatefulSets: (namespace, o) => list<StatefulSet>(`/apis/apps/v1${ns(namespace)}/statefulsets`, o),
      readStatefulSet: (namespace, name, signal) =>
        get<StatefulSet>(`/apis/apps/v1${ns(namespace)}/statefulsets/${segment(name)}`, undefined, signal),
      listDaemonSets: (namespace, o) => list<DaemonSet>(`/apis/apps/v1${ns(namespace)}/daemonsets`, o),
    },
    policy: {
      listPodDisruptionBudgets: (namespace, o) =>
        list<PodDisruptionBudget>(`/apis/policy/v1${ns(namespace)}/poddisruptionbudgets`, o),
    },
    events: {
      async forObject(target, signal) {
        const selectors = [`involvedObject.name=${target.name}`, `involvedObject.kind=${target.kind}`];
        if (target.namespace) selectors.push(`involvedObject.namespace=${target.namespace}`);
        if (target.uid) selectors.push(`involvedObject.uid=${target.uid}`);
        const result = await list<KubeEvent>(`/api/v1${ns(target.namespace)}/events`, {
          fieldSelector: selectors.join(","),
          maxItems: 500,
          signal,
        });
        return result.items.sort((a, b) => eventTime(a).localeCompare(eventTime(b)));
      },
    },
    logs: {
      async tail(namespace, pod, o = {}) {
        const tailLines = o.tailLines ?? 100;
        const response = await stream(
          `/api/v1/namespaces/${segment(namespace)}/pods/${segment(pod)}/log`,
          {
            container: o.container,
            // With a filter the whole log is scanned; without one the kubelet tails for us.
            tailLines: o.grep ? undefined : tailLines,
            sinceSeconds: o.sinceSeconds,
            previous: o.previous ? true : undefined,
            timestamps: o.timestamps ? true : undefined,
            limitBytes: o.maxScanBytes,
          },
          o.signal,
        );
        try {
          return await tailLogStream(response, {
            tailLines,
            grep: o.grep,
            maxLineChars: o.maxLineChars ?? 2000,
            maxScanBytes: o.maxScanBytes,
          });
        } finally {
          response.destroy();
        }
      },
    },
    discovery,
    api<T extends ApiType>(constructor: ApiConstructor<T>): T {
      return kubeConfig.makeApiClient(constructor);
    },
    stats() {
      return { ...counters, active: limiter.active, waiting: limiter.waiting };
    },
    close() {
      void agentPromise?.then((a) => a.destroy());
    },
  };
  return clients;
}

/** The best timestamp an event has, as an ISO string ("" when none). */
export function eventTime(event: KubeEvent): string {
  return (
    event.lastTimestamp ?? event.eventTime ?? event.firstTimestamp ?? event.metadata?.creationTimestamp ?? ""
  );
}

/** "10 s", "1.5 s": how long Deputy waited, for people. */
function formatSeconds(ms: number): string {
  const seconds = ms / 1000;
  return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(1)} s`;
}
