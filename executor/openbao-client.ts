import { readFile } from "node:fs/promises";
import createVault from "node-vault";
import { z } from "zod";
import type { Config } from "../core/config/config.ts";
import { DeputyError, describeError } from "../core/errors.ts";
import { inSpan, SpanKind } from "../core/observability/tracing.ts";

/**
 * A typed thin client for the few OpenBao HTTP endpoints Deputy uses, over
 * `node-vault` (its generic `request`, with the token passed per call).
 * Every answer is validated with a zod schema: every field we rely on is
 * checked at run time. No token ever ends up in an error or a log line:
 * OpenBao's own error strings do not echo tokens, we never include request
 * bodies, and a transport failure is re-raised with its message only —
 * node-vault's transport (axios) attaches the request configuration, headers
 * and X-Vault-Token included, to its errors, so those are never kept as a
 * `cause`. node-vault's own debug output (request bodies: login JWTs, KV
 * values) is switched off, and the VAULT_* variables it would read
 * (VAULT_TOKEN, VAULT_PREFIX, VAULT_NAMESPACE, VAULT_SKIP_VERIFY) are pinned
 * so that only Deputy's own configuration decides where a token goes.
 */

export interface OpenBaoClient {
  readonly addr: string;
  request<T>(
    method: "GET" | "POST" | "PUT" | "DELETE" | "LIST",
    path: string,
    options: { token?: string; body?: unknown; schema: z.ZodType<T>; signal?: AbortSignal },
  ): Promise<T>;
}

export class OpenBaoError extends DeputyError {
  readonly status: number;
  /** OpenBao's own error strings (never contain tokens). */
  readonly errors: readonly string[];
  constructor(status: number, path: string, errors: string[], cause?: unknown) {
    super(
      "UPSTREAM_FAILED",
      `OpenBao ${path} answered ${status === 0 ? "nothing (unreachable)" : status}${errors.length ? `: ${errors.join("; ")}` : ""}`,
      { cause, details: { status, path } },
    );
    this.name = "OpenBaoError";
    this.status = status;
    this.errors = errors;
  }

  /** Worth another try: unreachable, rate limited, or a server-side error. */
  get transient(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

const errorBodySchema = z.object({ errors: z.array(z.string()).optional() }).loose();

/** Auth response of a login (`auth/<mount>/login`). */
export const loginResponseSchema = z
  .object({
    auth: z
      .object({
        client_token: z.string().min(1),
        lease_duration: z.number().int().nonnegative(),
        renewable: z.boolean().optional(),
        policies: z.array(z.string()).optional(),
      })
      .loose(),
  })
  .loose();

/** Response of `kubernetes/creds/<role>`. */
export const kubernetesCredsSchema = z
  .object({
    lease_id: z.string().min(1),
    lease_duration: z.number().int().nonnegative(),
    data: z
      .object({
        service_account_name: z.string().min(1),
        service_account_namespace: z.string().min(1),
        service_account_token: z.string().min(1),
      })
      .loose(),
  })
  .loose();

/** Any response whose body we do not need (204 or a JSON document). */
export const ignoredSchema = z.unknown();

/**
 * node-vault's pluggable transport (its `request-promise` option): given
 * `{ method, uri, headers, json }`, answer `{ statusCode, body, request: { path } }`.
 */
export interface OpenBaoTransport {
  defaults(defaults: Record<string, unknown>): (options: TransportRequest) => Promise<TransportResponse>;
}
interface TransportRequest {
  method: string;
  uri: string;
  headers?: Record<string, string>;
  json?: unknown;
}
interface TransportResponse {
  statusCode: number;
  body: unknown;
  request: { path: string };
}

/** A transport over a fetch function (tests inject one; the bot's secrets loader too). */
export function fetchTransport(doFetch: typeof fetch, timeoutMs: number): OpenBaoTransport {
  return {
    defaults: () => async (options) => {
      const hasBody = options.json !== undefined && typeof options.json === "object";
      const response = await doFetch(options.uri, {
        method: options.method,
        headers: { ...options.headers, ...(hasBody ? { "Content-Type": "application/json" } : {}) },
        body: hasBody ? JSON.stringify(options.json) : undefined,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await response.text();
      let body: unknown = text;
      if (text.length > 0) {
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
      }
      return { statusCode: response.status, body, request: { path: new URL(options.uri).pathname } };
    },
  };
}

/** node-vault's rejection for an answer other than 200/204 (its class is not exported). */
function apiResponseOf(error: unknown): { statusCode: number; body: unknown } | undefined {
  const response = (error as { response?: { statusCode?: unknown; body?: unknown } } | null)?.response;
  return typeof response?.statusCode === "number"
    ? { statusCode: response.statusCode, body: response.body }
    : undefined;
}

/** What a transport failure may keep: its code and message, never the request it carried. */
function transportFailure(error: unknown): Error {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return new Error(typeof code === "string" && !message.includes(code) ? `${code}: ${message}` : message);
}

export function createOpenBaoClient(options: {
  addr: string;
  /** Inject a fetch (tests); node-vault's own transport otherwise. */
  fetch?: typeof fetch;
  /** Inject node-vault's transport (tests). */
  transport?: OpenBaoTransport;
  timeoutMs?: number;
}): OpenBaoClient {
  const base = options.addr.replace(/\/+$/, "");
  const timeoutMs = options.timeoutMs ?? 10_000;
  const transport =
    options.transport ?? (options.fetch ? fetchTransport(options.fetch, timeoutMs) : undefined);
  const vault = createVault({
    endpoint: base,
    apiVersion: "v1",
    // Request bodies (login JWTs, KV values) must never reach a debug log.
    debug: () => undefined,
    ...(transport ? { "request-promise": transport } : {}),
    // VAULT_SKIP_VERIFY must not turn TLS verification off behind Deputy's back.
    rpDefaults: { strictSSL: true, timeout: timeoutMs },
  } as Parameters<typeof createVault>[0]);
  // No ambient token, prefix or namespace from VAULT_*: each call names its own token.
  (vault as { token?: string }).token = undefined;
  (vault as { pathPrefix?: string }).pathPrefix = "";
  (vault as { namespace?: string }).namespace = undefined;

  return {
    addr: base,
    request(method, path, { token, body, schema, signal }) {
      const cleanPath = path.replace(/^\/+/, "");
      if (cleanPath.includes("..")) {
        return Promise.reject(new DeputyError("INPUT_INVALID", `OpenBao path "${cleanPath}" is not allowed`));
      }
      return inSpan(`openbao ${method}`, { kind: SpanKind.CLIENT }, async () => {
        const call = vault.request({
          path: `/${cleanPath}`,
          method,
          headers: token ? { "X-Vault-Token": token } : {},
          ...(body !== undefined ? { json: body } : {}),
        }) as Promise<unknown>;
        let answer: unknown;
        try {
          answer = await (signal ? raceAbort(call, signal) : call);
        } catch (error) {
          const api = apiResponseOf(error);
          if (api === undefined) throw new OpenBaoError(0, cleanPath, [], transportFailure(error));
          const parsed = errorBodySchema.safeParse(api.body);
          throw new OpenBaoError(api.statusCode, cleanPath, parsed.success ? (parsed.data.errors ?? []) : []);
        }
        // A 204 answers an empty body, which node-vault passes on as "".
        const result = schema.safeParse(answer === "" ? undefined : answer);
        if (!result.success) {
          throw new DeputyError(
            "UPSTREAM_FAILED",
            `OpenBao ${cleanPath} answered an unexpected document: ${result.error.issues
              .map((issue) => `${issue.path.join(".")}: ${issue.message}`)
              .join("; ")}`,
          );
        }
        return result.data;
      });
    },
  };
}

/** node-vault's transport takes no abort signal: stop waiting when the caller gives up. */
function raceAbort<T>(call: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    call.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * The projected service-account token a process logs in to OpenBao with
 * (DEPUTY_BAO_JWT_PATH); unreadable, the process refuses to start, naming
 * the setting (`because`) that asked for the login.
 */
export async function readOpenBaoJwt(config: Config, because: string): Promise<string> {
  try {
    return await readFile(config.openbao.jwtPath, "utf8");
  } catch (error) {
    throw new DeputyError(
      "CONFIG_INVALID",
      `${because} is set but the service-account token at ${config.openbao.jwtPath} (DEPUTY_BAO_JWT_PATH) is unreadable: ${describeError(error)}`,
      { cause: error },
    );
  }
}
