import { DeputyError, describeError } from "../core/errors.ts";
import { KubeApiError, type KubeStatus } from "../core/kube/errors.ts";
import { bearerTokenCredentials, createKubeConnection, readBody } from "../core/kube/transport.ts";
import { PATCH_CONTENT_TYPES, type KubeWriter } from "../core/actions/action-type.ts";
import { parseWarnings } from "../core/kube/warnings.ts";
import { DEFAULT_RETRY, jitteredBackoff, sleep, withRetry } from "../core/backoff.ts";
import { inSpan, SpanKind } from "../core/observability/tracing.ts";

/**
 * The executor's Kubernetes client: one minted bearer token, one action, no
 * connection reuse after it (the agent is destroyed when the action ends).
 * It speaks over the same connection code as the reader (core/kube/transport.ts).
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

const CONTENT_TYPES = PATCH_CONTENT_TYPES;

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

/**
 * How long a credential minted a moment ago may be refused (401, 403) before
 * that is taken as final. OpenBao creates the service account, its binding
 * and its token and returns at once; each API server learns of the binding
 * (and the account) from its own cache, so the first write can reach one that
 * has not seen it yet. A refusal is decided before anything is changed, so
 * sending the same write again is safe.
 */
export const CREDENTIAL_SETTLE_MS = 10_000;
const SETTLE_BACKOFF = { baseMs: 100, capMs: 1_000, jitter: "equal" } as const;

/**
 * A refusal a cache that lags could explain: 401 (the account is not known
 * yet) or RBAC's 403 (`… is forbidden: User "…" cannot patch resource …`).
 * An admission policy, a webhook or a quota also answer 403; those are final.
 */
const RBAC_FORBIDDEN = /is forbidden: User "[^"]*" cannot /;

function isRefusal(error: unknown): boolean {
  if (!(error instanceof KubeApiError)) return false;
  return error.status === 401 || (error.status === 403 && RBAC_FORBIDDEN.test(error.message));
}

/** Network failures that happen before a request leaves: the API server cannot have acted. */
const NOT_SENT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

/**
 * Whether a failed write may have been applied anyway: a 5xx, a timeout or a
 * connection lost after the request was sent. Its answer is lost, not "no".
 */
export function isAmbiguousWriteFailure(method: string, error: unknown): boolean {
  if (method === "GET") return false;
  if (error instanceof KubeApiError) return error.status >= 500;
  if (error instanceof DeputyError && error.details.network === true) {
    const code = (error.cause as { code?: string } | undefined)?.code;
    return !NOT_SENT.has(code ?? "");
  }
  return false;
}

/**
 * A write whose answer was lost, and what reading the object back with the
 * same credential showed: `applied` true (the change is in place), false
 * (it is not), or undefined (it could not be read back, so nobody can say).
 */
export class KubeOutcomeUnknown extends DeputyError {
  readonly method: string;
  readonly path: string;
  readonly applied: boolean | undefined;
  /** How the answer was lost: "500 Internal Server Error", "no answer within 20000 ms". */
  readonly lost: string;
  /** Why reading back failed, when it did. */
  readonly readBackFailure: string | undefined;
  constructor(options: {
    method: string;
    path: string;
    lost: string;
    applied: boolean | undefined;
    readBackFailure?: string | undefined;
    cause: unknown;
  }) {
    const what = `${options.method} ${options.path}`;
    super(
      "UPSTREAM_FAILED",
      options.applied === undefined
        ? `the answer to ${what} was lost (${options.lost}) and reading it back failed (${options.readBackFailure ?? "unknown"}), so whether it was applied cannot be known`
        : `the answer to ${what} was lost (${options.lost}); read back, the change is ${options.applied ? "" : "not "}in place`,
      {
        cause: options.cause,
        details: { method: options.method, path: options.path, applied: options.applied },
      },
    );
    this.name = "KubeOutcomeUnknown";
    this.method = options.method;
    this.path = options.path;
    this.applied = options.applied;
    this.lost = options.lost;
    this.readBackFailure = options.readBackFailure;
  }
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * Whether `live` shows every field `patch` sets (null: removed). Lists match
 * item by item anywhere in the live list, as a strategic merge keys them.
 * A resourceVersion in the patch is a precondition, not a change.
 */
export function showsPatch(live: unknown, patch: unknown, path: readonly string[] = []): boolean {
  if (patch === null) return live === undefined || live === null;
  if (Array.isArray(patch)) {
    return Array.isArray(live) && patch.every((item) => live.some((have) => showsPatch(have, item, path)));
  }
  if (isObject(patch)) {
    if (!isObject(live)) return false;
    return Object.entries(patch).every(([key, value]) => {
      if (key === "resourceVersion" && path.length === 1 && path[0] === "metadata") return true;
      return showsPatch(live[key], value, [...path, key]);
    });
  }
  return live === patch;
}

function lostAnswer(error: unknown): string {
  if (error instanceof KubeApiError) return `${error.status}${error.reason ? ` ${error.reason}` : ""}`;
  return describeError(error);
}

export function createKubeWriter(
  cluster: ClusterEndpoint,
  token: string,
  options: {
    timeoutMs?: number;
    retry?: { attempts: number; baseMs: number; capMs: number };
    /** From now, how long a refusal of this (new) credential is sent again; 0: never. */
    settleMs?: number;
  } = {},
): KubeWriter {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const retry = options.retry ?? DEFAULT_RETRY;
  const settledAt = Date.now() + (options.settleMs ?? CREDENTIAL_SETTLE_MS);
  /** Once one request was let through, a refusal is the role's answer, not a cache's. */
  let accepted = false;
  const connection = createKubeConnection(bearerTokenCredentials(cluster, token), {
    maxSockets: 4,
    userAgent: "deputy-executor",
    describeTimeout: (ms) => `no answer from the Kubernetes API within ${ms} ms`,
  });

  interface WriterRequest {
    method: string;
    path: string;
    body: unknown;
    contentType: string;
    query?: Record<string, string> | undefined;
  }

  /**
   * A write whose answer was lost: read the object back with the same
   * credential and say what is true. An applied change is the write's result.
   */
  async function readBack<T>(request: WriterRequest, error: unknown): Promise<T> {
    const eviction = request.method === "POST" && request.path.endsWith("/eviction");
    const objectPath = eviction ? request.path.slice(0, -"/eviction".length) : request.path;
    const get = <R>(path: string, query?: Record<string, string>): Promise<R> =>
      send<R>({ method: "GET", path, body: undefined, contentType: "application/json", query });
    /** The pod by name, through a list when the role may list pods but not get one (drain). */
    const readPod = async (): Promise<unknown> => {
      try {
        return await get<unknown>(objectPath);
      } catch (readError) {
        if (!(readError instanceof KubeApiError && readError.status === 403)) throw readError;
        const [, namespace, name] = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(objectPath) ?? [];
        if (!namespace || !name) throw readError;
        const list = await get<{ items?: unknown[] }>(`/api/v1/namespaces/${namespace}/pods`, {
          fieldSelector: `metadata.name=${name}`,
        });
        return list.items?.[0];
      }
    };
    let live: unknown;
    try {
      live = eviction ? await readPod() : await get<unknown>(objectPath);
    } catch (readError) {
      // An evicted pod may be gone already: that is an answer.
      if (eviction && readError instanceof KubeApiError && readError.status === 404) live = undefined;
      else {
        throw new KubeOutcomeUnknown({
          method: request.method,
          path: request.path,
          lost: lostAnswer(error),
          applied: undefined,
          readBackFailure: describeError(readError),
          cause: error,
        });
      }
    }
    let applied: boolean | undefined;
    if (eviction) {
      const uid = (request.body as { deleteOptions?: { preconditions?: { uid?: string } } }).deleteOptions
        ?.preconditions?.uid;
      const meta = (live as { metadata?: { uid?: string; deletionTimestamp?: string } } | undefined)
        ?.metadata;
      applied =
        live === undefined ||
        (uid !== undefined && meta?.uid !== uid) ||
        meta?.deletionTimestamp !== undefined;
    } else if (request.method === "PATCH" && request.contentType !== CONTENT_TYPES.json) {
      applied = showsPatch(live, request.body);
    }
    if (applied === true) return (eviction ? undefined : live) as T;
    throw new KubeOutcomeUnknown({
      method: request.method,
      path: request.path,
      lost: lostAnswer(error),
      applied,
      ...(applied === undefined
        ? { readBackFailure: "a JSON patch cannot be compared with the object" }
        : {}),
      cause: error,
    });
  }

  async function send<T>(request: WriterRequest): Promise<T> {
    return (await sendWithWarnings<T>(request)).json;
  }

  /** The answer and its warnings; a write whose answer was lost is read back (readBack). */
  async function sendWithWarnings<T>(request: WriterRequest): Promise<{ json: T; warnings: string[] }> {
    try {
      return await sendSettled<T>(request);
    } catch (error) {
      const dryRun = request.query?.dryRun !== undefined;
      if (dryRun || !isAmbiguousWriteFailure(request.method, error)) throw error;
      return { json: await readBack<T>(request, error), warnings: [] };
    }
  }

  function sendSettled<T>(request: WriterRequest): Promise<{ json: T; warnings: string[] }> {
    return inSpan(`kube ${request.method}`, { kind: SpanKind.CLIENT }, async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          const result = await withRetry(() => sendOnce<T>(request), {
            ...retry,
            retryable: (error) => isRetryableKubeFailure(request.method, request.path, error),
          });
          accepted = true;
          return result;
        } catch (error) {
          // A 404, a 409 or an admission's 403 is an answer to an authorised request too.
          if (error instanceof KubeApiError && !isRefusal(error)) accepted = true;
          const wait = jitteredBackoff(attempt, SETTLE_BACKOFF);
          if (accepted || !isRefusal(error) || Date.now() + wait > settledAt) throw error;
          await sleep(wait);
        }
      }
    });
  }

  async function sendOnce<T>({
    method,
    path,
    body,
    contentType,
    query,
  }: WriterRequest): Promise<{ json: T; warnings: string[] }> {
    const search = query && Object.keys(query).length > 0 ? `?${new URLSearchParams(query).toString()}` : "";
    let response;
    try {
      response = await connection.open({
        method,
        pathWithQuery: `${path}${search}`,
        body: body === undefined ? undefined : JSON.stringify(body),
        accept: "application/json",
        contentType,
        timeoutMs,
      });
    } catch (error) {
      throw new DeputyError(
        "UPSTREAM_FAILED",
        `the Kubernetes API could not be reached: ${describeError(error)}`,
        {
          cause: error,
          details: { network: true },
        },
      );
    }
    const text = (await readBody(response)).toString("utf8");
    const status = response.statusCode ?? 0;
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (status >= 200 && status < 300)
      return { json: json as T, warnings: parseWarnings(response.headers.warning) };
    throw new KubeApiError(method, path, status, json as KubeStatus | undefined, text.slice(0, 300));
  }

  return {
    get: (path, query) =>
      send({ method: "GET", path, body: undefined, contentType: "application/json", query }),
    patch: (path, body, type, query) =>
      send({ method: "PATCH", path, body, contentType: CONTENT_TYPES[type], query }),
    post: (path, body, query) => send({ method: "POST", path, body, contentType: "application/json", query }),
    async send(request, options = {}) {
      const answer = await sendWithWarnings<unknown>({
        method: request.method,
        path: request.path,
        body: request.body,
        contentType: CONTENT_TYPES[request.patchType],
        query: options.dryRun ? { ...request.query, dryRun: "All" } : request.query,
      });
      return { object: answer.json, warnings: answer.warnings };
    },
    close: () => connection.close(),
  };
}
