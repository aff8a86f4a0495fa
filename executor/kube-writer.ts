import https from "node:https";
import http from "node:http";
import { DeputyError, describeError } from "../core/errors.ts";
import { KubeApiError, type KubeStatus } from "../core/kube/errors.ts";
import type { KubeWriter } from "../core/actions/action-type.ts";
import { DEFAULT_RETRY, withRetry } from "./retry.ts";
import { inSpan, SpanKind } from "../core/tracing.ts";

/**
 * The executor's Kubernetes client: one minted bearer token, one action, no
 * connection reuse after it (the agent is destroyed when the action ends).
 * Raw JSON over HTTPS so every write states its content type (merge patch,
 * JSON patch, server-side apply) and its preconditions explicitly. Failures
 * are KubeApiError with the API's status code and message.
 */

export type { KubeWriter };

export interface ClusterEndpoint {
  server: string;
  /** PEM of the API server's CA. */
  caPem: string | undefined;
}

const CONTENT_TYPES = {
  merge: "application/merge-patch+json",
  strategic: "application/strategic-merge-patch+json",
  json: "application/json-patch+json",
  apply: "application/apply-patch+yaml",
} as const;

/**
 * Whether a failed call may be sent again. Reads: any 429/5xx or network error.
 * Writes: only when the API cannot have acted on it (connection refused, 503,
 * or a 429 that is throttling — an eviction's 429 is a PodDisruptionBudget
 * answer, final by design).
 */
export function isRetryableKubeFailure(method: string, path: string, error: unknown): boolean {
  if (error instanceof KubeApiError) {
    if (method === "GET") return error.status === 429 || error.status >= 500;
    if (error.status === 503) return true;
    return error.status === 429 && !path.endsWith("/eviction");
  }
  if (error instanceof DeputyError && error.details.network === true) {
    const code = (error.cause as { code?: string } | undefined)?.code;
    return method === "GET" || code === "ECONNREFUSED";
  }
  return false;
}

export function createKubeWriter(
  cluster: ClusterEndpoint,
  token: string,
  options: { timeoutMs?: number; retry?: { attempts: number; baseMs: number; capMs: number } } = {},
): KubeWriter {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const retry = options.retry ?? DEFAULT_RETRY;
  const url = new URL(cluster.server);
  const secure = url.protocol === "https:";
  const agent = secure
    ? new https.Agent({ keepAlive: true, maxSockets: 4, ...(cluster.caPem ? { ca: cluster.caPem } : {}) })
    : new http.Agent({ keepAlive: true, maxSockets: 4 });
  const basePath = url.pathname.replace(/\/$/, "");

  function send<T>(
    method: string,
    path: string,
    body: unknown,
    contentType: string,
    query?: Record<string, string>,
  ): Promise<T> {
    return inSpan(`kube ${method}`, { kind: SpanKind.CLIENT }, () =>
      withRetry(() => sendOnce<T>(method, path, body, contentType, query), {
        ...retry,
        retryable: (error) => isRetryableKubeFailure(method, path, error),
      }),
    );
  }

  function sendOnce<T>(
    method: string,
    path: string,
    body: unknown,
    contentType: string,
    query?: Record<string, string>,
  ): Promise<T> {
    const search = query && Object.keys(query).length > 0 ? `?${new URLSearchParams(query).toString()}` : "";
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const request = (secure ? https : http).request(
        {
          protocol: url.protocol,
          hostname: url.hostname,
          port: url.port || (secure ? 443 : 80),
          path: `${basePath}${path}${search}`,
          method,
          agent,
          timeout: timeoutMs,
          headers: {
            accept: "application/json",
            authorization: `Bearer ${token}`,
            "user-agent": "deputy-executor",
            ...(payload === undefined
              ? {}
              : { "content-type": contentType, "content-length": Buffer.byteLength(payload) }),
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("error", reject);
          response.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            const status = response.statusCode ?? 0;
            let json: unknown;
            try {
              json = text ? JSON.parse(text) : undefined;
            } catch {
              json = undefined;
            }
            if (status >= 200 && status < 300) resolve(json as T);
            else
              reject(
                new KubeApiError(method, path, status, json as KubeStatus | undefined, text.slice(0, 300)),
              );
          });
        },
      );
      request.on("timeout", () =>
        request.destroy(new Error(`no answer from the Kubernetes API within ${timeoutMs} ms`)),
      );
      request.on("error", (error) =>
        reject(
          new DeputyError(
            "UPSTREAM_FAILED",
            `the Kubernetes API could not be reached: ${describeError(error)}`,
            {
              cause: error,
              details: { network: true },
            },
          ),
        ),
      );
      request.end(payload);
    });
  }

  return {
    get: (path, query) => send("GET", path, undefined, "application/json", query),
    patch: (path, body, type, query) => send("PATCH", path, body, CONTENT_TYPES[type], query),
    post: (path, body, query) => send("POST", path, body, "application/json", query),
    close: () => agent.destroy(),
  };
}
