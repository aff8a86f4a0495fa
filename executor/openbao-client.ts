import { readFile } from "node:fs/promises";
import { z } from "zod";
import type { Config } from "../core/config.ts";
import { DeputyError, describeError } from "../core/errors.ts";

/**
 * A typed thin client for the few OpenBao HTTP endpoints Deputy uses. Plain
 * fetch plus zod-validated responses: every field we rely on is checked at run
 * time, and no token ever ends up in an error message (OpenBao's own error
 * strings do not echo tokens; we never include request bodies).
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

export function createOpenBaoClient(options: {
  addr: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
}): OpenBaoClient {
  const doFetch = options.fetch ?? fetch;
  const base = options.addr.replace(/\/+$/, "");
  const timeoutMs = options.timeoutMs ?? 10_000;
  return {
    addr: base,
    async request(method, path, { token, body, schema, signal }) {
      const cleanPath = path.replace(/^\/+/, "");
      if (cleanPath.includes("..")) {
        throw new DeputyError("INPUT_INVALID", `OpenBao path "${cleanPath}" is not allowed`);
      }
      const headers: Record<string, string> = {};
      if (token) headers["X-Vault-Token"] = token;
      if (body !== undefined) headers["Content-Type"] = "application/json";
      const timeout = AbortSignal.timeout(timeoutMs);
      let response: Response;
      try {
        response = await doFetch(`${base}/v1/${cleanPath}`, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        });
      } catch (error) {
        throw new OpenBaoError(0, cleanPath, [], error);
      }
      const text = await response.text();
      let json: unknown = undefined;
      if (text.length > 0) {
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
      }
      if (!response.ok) {
        const parsed = errorBodySchema.safeParse(json);
        throw new OpenBaoError(response.status, cleanPath, parsed.success ? (parsed.data.errors ?? []) : []);
      }
      const result = schema.safeParse(json);
      if (!result.success) {
        throw new DeputyError(
          "UPSTREAM_FAILED",
          `OpenBao ${cleanPath} answered an unexpected document: ${result.error.issues
            .map((issue) => `${issue.path.join(".")}: ${issue.message}`)
            .join("; ")}`,
        );
      }
      return result.data;
    },
  };
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
