import http from "node:http";
import https from "node:https";
import type { Readable } from "node:stream";
import type { KubeConfig } from "@kubernetes/client-node";
import { DeputyError, describeError } from "../errors.ts";
import type { Logger } from "../observability/logger.ts";
import { KubeApiError, type KubeStatus } from "./errors.ts";
import { createLimiter, type Limiter } from "./limiter.ts";
import {
  DEFAULT_RETRY,
  backoffDelay,
  isRetryableNetworkError,
  isRetryableStatus,
  parseRetryAfter,
  sleep,
  type RetryPolicy,
} from "./retry.ts";

/**
 * The one raw HTTP(S) client to the Kubernetes API server. A connection holds
 * the TLS agent and the credentials (a kubeconfig's, or a minted bearer token
 * and the cluster CA) and sends one request. The reader's transport adds a
 * per-cluster concurrency limit, one deadline per call, retries with capped
 * exponential backoff and full jitter on 429/5xx, and streams that hold a
 * slot until they end.
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

export interface RequestOptions {
  method?: "GET" | "POST";
  query?: Query | undefined;
  body?: unknown;
  accept?: string;
  signal?: AbortSignal | undefined;
  /** Retry 429/5xx and network errors (default: true for GET only). */
  retry?: boolean;
}

export const JSON_ACCEPT = "application/json";

export function buildQuery(query: Query | undefined): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === "") continue;
    params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** "10 s", "1.5 s": how long Deputy waited, for people. */
export function formatSeconds(ms: number): string {
  const seconds = ms / 1000;
  return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(1)} s`;
}

/** Where the API server is and how to prove who we are to it. */
export interface KubeCredentials {
  /** API server URL, base path included. */
  server: string;
  /** TLS settings for the connection pool. */
  tls(): Promise<https.AgentOptions>;
  /** Authentication headers, asked for per request so rotated tokens are used. */
  headers(): Promise<http.OutgoingHttpHeaders>;
}

/** A client-node KubeConfig's current cluster and user. */
export function kubeConfigCredentials(kubeConfig: KubeConfig): KubeCredentials {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster)
    throw new DeputyError("CONFIG_INVALID", "the Kubernetes configuration has no current cluster");
  return {
    server: cluster.server,
    async tls() {
      const tls: https.RequestOptions = {};
      await kubeConfig.applyToHTTPSOptions(tls);
      return {
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        pfx: tls.pfx,
        passphrase: tls.passphrase,
        servername: tls.servername,
        ...(tls.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: tls.rejectUnauthorized }),
      };
    },
    async headers() {
      const opts: https.RequestOptions = {};
      await kubeConfig.applyToHTTPSOptions(opts);
      const headers: http.OutgoingHttpHeaders = { ...(opts.headers as http.OutgoingHttpHeaders | undefined) };
      if (opts.auth) headers.authorization = `Basic ${Buffer.from(opts.auth).toString("base64")}`;
      return headers;
    },
  };
}

/** A bearer token (the executor's minted one) and the cluster CA. */
export function bearerTokenCredentials(
  cluster: { server: string; caPem: string | undefined },
  token: string,
): KubeCredentials {
  const tls: https.AgentOptions = cluster.caPem ? { ca: cluster.caPem } : {};
  const headers = { authorization: `Bearer ${token}` };
  return {
    server: cluster.server,
    tls: () => Promise.resolve(tls),
    headers: () => Promise.resolve(headers),
  };
}

export interface OpenRequest {
  method: string;
  /** Path below the server's base path, query included. */
  pathWithQuery: string;
  body?: string | undefined;
  accept: string;
  contentType?: string;
  signal?: AbortSignal | undefined;
  /** Socket inactivity bound. */
  timeoutMs: number;
}

export interface KubeConnection {
  /** API server URL (never credentials). */
  readonly server: string;
  /** "https://host:port", for messages. */
  readonly serverName: string;
  /** Send one request; resolves with the response head, its body unread. */
  open(request: OpenRequest): Promise<http.IncomingMessage>;
  close(): void;
}

export interface ConnectionOptions {
  maxSockets: number;
  userAgent: string;
  /** What an inactivity timeout says. */
  describeTimeout?: (timeoutMs: number, serverName: string) => string;
}

const describeTimeoutDefault = (timeoutMs: number, serverName: string): string =>
  `the Kubernetes API server at ${serverName} did not answer within ${formatSeconds(timeoutMs)}`;

export function createKubeConnection(
  credentials: KubeCredentials,
  options: ConnectionOptions,
): KubeConnection {
  const serverUrl = new URL(credentials.server);
  const basePath = serverUrl.pathname.replace(/\/$/, "");
  const isHttps = serverUrl.protocol === "https:";
  const serverName = `${serverUrl.protocol}//${serverUrl.host}`;
  const describeTimeout = options.describeTimeout ?? describeTimeoutDefault;

  let agentPromise: Promise<http.Agent> | undefined;
  const agent = (): Promise<http.Agent> => {
    agentPromise ??= (async () => {
      const common = { keepAlive: true, maxSockets: options.maxSockets };
      if (!isHttps) return new http.Agent(common);
      return new https.Agent({ ...common, ...(await credentials.tls()) });
    })();
    return agentPromise;
  };

  const open = async (req: OpenRequest): Promise<http.IncomingMessage> => {
    const [dispatcher, headers] = await Promise.all([agent(), credentials.headers()]);
    return new Promise((resolve, reject) => {
      const request = (isHttps ? https : http).request(
        {
          protocol: serverUrl.protocol,
          hostname: serverUrl.hostname,
          port: serverUrl.port || (isHttps ? 443 : 80),
          path: `${basePath}${req.pathWithQuery}`,
          method: req.method,
          agent: dispatcher,
          headers: {
            ...headers,
            accept: req.accept,
            "user-agent": options.userAgent,
            ...(req.body === undefined
              ? {}
              : {
                  "content-type": req.contentType ?? JSON_ACCEPT,
                  "content-length": Buffer.byteLength(req.body),
                }),
          },
          signal: req.signal,
          timeout: req.timeoutMs,
        },
        resolve,
      );
      request.on("timeout", () => {
        const error = Object.assign(new Error(describeTimeout(req.timeoutMs, serverName)), {
          code: "ETIMEDOUT",
        });
        request.destroy(error);
      });
      request.on("error", reject);
      request.end(req.body);
    });
  };

  return {
    server: `${serverUrl.protocol}//${serverUrl.host}${basePath}`,
    serverName,
    open,
    close() {
      void agentPromise?.then((a) => a.destroy());
    },
  };
}

/** A whole response body, refused past `maxBytes`. */
export async function readBody(response: http.IncomingMessage, maxBytes = Infinity): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > maxBytes) {
      response.destroy();
      throw new DeputyError(
        "UPSTREAM_FAILED",
        `the Kubernetes API response exceeded ${Math.round(maxBytes / 1048576)} MB; narrow the request`,
      );
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/** The API's Status object in an error body, when it is one. */
export function parseStatus(body: Buffer): KubeStatus | undefined {
  try {
    const parsed = JSON.parse(body.toString("utf8")) as unknown;
    return parsed && typeof parsed === "object" ? (parsed as KubeStatus) : undefined;
  } catch {
    return undefined;
  }
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface TransportOptions {
  maxConcurrency?: number;
  logger?: Logger | undefined;
  retry?: Partial<RetryPolicy> | undefined;
  /** Metrics hook: called once per HTTP request sent. */
  onRequest?: ((event: KubeRequestEvent) => void) | undefined;
  /** Injected randomness for the jitter (tests). */
  random?: (() => number) | undefined;
  /** Socket inactivity timeout for ordinary calls. */
  requestTimeoutMs?: number | undefined;
  /** Longest one call may take, waiting for a slot and retries included (default 10 s). */
  callTimeoutMs?: number | undefined;
  /** Largest body accepted. */
  maxResponseBytes?: number | undefined;
}

export interface KubeTransport {
  readonly server: string;
  /** A request with retries under one deadline; resolves with a 2xx response, else throws. */
  send(path: string, options: RequestOptions): Promise<RawResponse>;
  /** A raw response stream; it holds a concurrency slot until it ends. */
  stream(path: string, query?: Query, signal?: AbortSignal): Promise<Readable>;
  readonly counters: { requests: number; retries: number };
  readonly limiter: Limiter;
  close(): void;
}

/** The reader's transport over a kubeconfig's credentials. */
export function createKubeTransport(kubeConfig: KubeConfig, options: TransportOptions = {}): KubeTransport {
  const retryPolicy: RetryPolicy = { ...DEFAULT_RETRY, ...options.retry };
  const random = options.random ?? Math.random;
  const maxConcurrency = options.maxConcurrency ?? 8;
  const connection = createKubeConnection(kubeConfigCredentials(kubeConfig), {
    maxSockets: maxConcurrency + 4,
    userAgent: "deputy",
  });
  const limiter = createLimiter(maxConcurrency);
  const callTimeoutMs = options.callTimeoutMs ?? 10_000;
  const requestTimeoutMs = Math.min(options.requestTimeoutMs ?? 30_000, callTimeoutMs);
  const serverName = connection.serverName;
  const notAnswering = (ms: number, cause?: unknown): DeputyError =>
    new DeputyError(
      "UPSTREAM_FAILED",
      `the Kubernetes API server at ${serverName} did not answer within ${formatSeconds(ms)}`,
      { cause, details: { server: serverName, timeoutMs: ms } },
    );
  const unreachable = (error: unknown): DeputyError =>
    new DeputyError(
      "UPSTREAM_FAILED",
      `the Kubernetes API server at ${serverName} could not be reached: ${describeError(error)}`,
      { cause: error },
    );
  const maxResponseBytes = options.maxResponseBytes ?? 64 * 1024 * 1024;
  const logger = options.logger;
  const counters = { requests: 0, retries: 0 };

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
        const response = await connection.open({
          method,
          pathWithQuery,
          body,
          accept,
          signal,
          timeoutMs: requestTimeoutMs,
        });
        const raw = {
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: await readBody(response, maxResponseBytes),
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

  const send = async (path: string, opts: RequestOptions): Promise<RawResponse> => {
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
        throw unreachable(error);
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
      throw new KubeApiError(
        method,
        path,
        response.status,
        parseStatus(response.body),
        response.body.toString("utf8").slice(0, 300),
      );
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
      response = await connection.open({
        method: "GET",
        pathWithQuery,
        accept: "*/*",
        signal,
        timeoutMs: callTimeoutMs,
      });
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
      throw unreachable(error);
    }
    const status = response.statusCode ?? 0;
    options.onRequest?.({ method: "GET", path, status, attempt: 1, durationMs: performance.now() - started });
    if (status < 200 || status >= 300) {
      try {
        const body = await readBody(response, maxResponseBytes);
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

  return {
    server: connection.server,
    send,
    stream,
    counters,
    limiter,
    close: () => connection.close(),
  };
}
