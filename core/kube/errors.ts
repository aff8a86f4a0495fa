import { DeputyError, type ErrorCode } from "../errors.ts";

/** A Kubernetes API Status body, as returned with any non-2xx response. */
export interface KubeStatus {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; kind?: string; group?: string; causes?: { message?: string; field?: string }[] };
  metadata?: { continue?: string };
}

function codeFor(status: number): ErrorCode {
  if (status === 404) return "NOT_FOUND";
  if (status === 403 || status === 401) return "FORBIDDEN";
  if (status === 409 || status === 410 || status === 412) return "CONFLICT";
  if (status === 429) return "RATE_LIMITED";
  if (status === 400 || status === 422) return "INPUT_INVALID";
  return "UPSTREAM_FAILED";
}

/**
 * A failed Kubernetes API call: HTTP status, the API's reason and its own
 * message (which names the object, e.g. `pods "x" is forbidden: …`).
 */
export class KubeApiError extends DeputyError {
  readonly status: number;
  readonly reason: string | undefined;
  readonly method: string;
  readonly path: string;
  readonly kubeStatus: KubeStatus | undefined;

  constructor(method: string, path: string, status: number, body: KubeStatus | undefined, fallback: string) {
    const message = body?.message?.trim() || fallback || `HTTP ${status}`;
    super(codeFor(status), message, {
      details: { status, reason: body?.reason, method, path },
    });
    this.name = "KubeApiError";
    this.status = status;
    this.reason = body?.reason;
    this.method = method;
    this.path = path;
    this.kubeStatus = body;
  }
}

export function isKubeApiError(error: unknown, status?: number): error is KubeApiError {
  return error instanceof KubeApiError && (status === undefined || error.status === status);
}
