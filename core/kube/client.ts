import type { Readable } from "node:stream";
import type { KubeConfig } from "@kubernetes/client-node";
import type { ApiConstructor, ApiType } from "@kubernetes/client-node";
import { DeputyError } from "../errors.ts";
import { createSingleFlight } from "./single-flight.ts";
import { createDiscovery, type Discovery } from "./discovery.ts";
import { listPages, type ListOptions, type ListResult } from "./paging.ts";
import { createKubeResources, type KubeResources } from "./resources.ts";
import {
  JSON_ACCEPT,
  buildQuery,
  createKubeTransport,
  type Query,
  type RequestOptions,
  type TransportOptions,
} from "./transport.ts";
import { inSpan, SpanKind } from "../observability/tracing.ts";

const KUBE_SPAN = { kind: SpanKind.CLIENT };

/**
 * Deputy's typed Kubernetes client. Every read in Deputy goes through here.
 * It composes the transport (TLS, credentials, concurrency limit, retries
 * with backoff, streams: transport.ts), list paging with 410 restarts
 * (paging.ts) and the typed resource facade (resources.ts), and adds
 * single-flight coalescing of identical concurrent GETs.
 */

export type { Query, RequestOptions, KubeRequestEvent } from "./transport.ts";
export type { ListOptions, ListResult } from "./paging.ts";
export type { LogOptions } from "./resources.ts";
export { eventTime } from "./resources.ts";

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

export type KubeClientOptions = TransportOptions;

export interface KubeClients extends KubeResources {
  readonly kubeConfig: KubeConfig;
  /** API server URL (never credentials). */
  readonly server: string;
  /** A JSON request; GETs are coalesced and retried. */
  request<T>(path: string, options?: RequestOptions): Promise<T>;
  get<T>(path: string, query?: Query, signal?: AbortSignal): Promise<T>;
  list<T>(path: string, options?: ListOptions): Promise<ListResult<T>>;
  /** A raw response stream; it holds a concurrency slot until it ends. */
  stream(path: string, query?: Query, signal?: AbortSignal): Promise<Readable>;
  discovery: Discovery;
  /** A client-node typed API on the same credentials (for writes with a minted token). */
  api<T extends ApiType>(constructor: ApiConstructor<T>): T;
  stats(): KubeStats;
  close(): void;
}

export function createKubeClients(kubeConfig: KubeConfig, options: KubeClientOptions = {}): KubeClients {
  const transport = createKubeTransport(kubeConfig, options);
  const flights = createSingleFlight();
  const counters = { coalesced: 0, listRestarts: 0 };

  const request = async <T>(path: string, opts: RequestOptions = {}): Promise<T> => {
    const method = opts.method ?? "GET";
    const run = async (effective: RequestOptions = opts): Promise<T> => {
      const response = await inSpan(`kube ${method}`, KUBE_SPAN, () => transport.send(path, effective));
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

  const list = <T>(path: string, opts: ListOptions = {}): Promise<ListResult<T>> =>
    listPages<T>(get, path, opts, {
      logger: options.logger,
      onRestart: () => (counters.listRestarts += 1),
    });

  const stream = transport.stream;
  const discovery = createDiscovery(get, (path, accept, signal) => request(path, { accept, signal }));

  return {
    kubeConfig,
    server: transport.server,
    request,
    get,
    list,
    stream,
    ...createKubeResources({ get, list, stream }),
    discovery,
    api<T extends ApiType>(constructor: ApiConstructor<T>): T {
      return kubeConfig.makeApiClient(constructor);
    },
    stats() {
      return {
        requests: transport.counters.requests,
        coalesced: counters.coalesced,
        retries: transport.counters.retries,
        listRestarts: counters.listRestarts,
        active: transport.limiter.active,
        waiting: transport.limiter.waiting,
      };
    },
    close() {
      transport.close();
    },
  };
}
