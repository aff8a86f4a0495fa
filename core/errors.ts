/**
 * Application errors. Every error Deputy raises on purpose is a DeputyError with
 * a stable `code` (for logs, audit and tests) and a plain-sentence message (for
 * people). Tool failures the model can act on are NOT thrown: they are returned
 * as `isError` tool results (see mcp/tool.ts).
 */
export const ErrorCodes = {
  CONFIG_INVALID: "Deputy's configuration is invalid",
  INPUT_INVALID: "An argument or payload is invalid",
  NOT_FOUND: "The object does not exist",
  POLICY_DENIED: "A guardrail refused the request",
  FORBIDDEN: "The identity is not allowed to do this (Kubernetes RBAC)",
  RATE_LIMITED: "A rate limit was reached",
  CONFLICT: "The object changed or the state does not allow this",
  APPROVAL_REFUSED: "The approval decision was refused",
  TAMPERED: "A stored record failed its integrity check",
  CREDENTIAL_FAILED: "A just-in-time credential could not be obtained or revoked",
  UPSTREAM_FAILED: "A dependency (Kubernetes, OpenBao, Redis, Slack, the model) failed",
  TESTENV_FAILED: "The local test environment could not be prepared",
  DEADLINE_EXCEEDED: "An operation ran past its deadline",
  INTERNAL: "An unexpected internal error",
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class DeputyError extends Error {
  readonly code: ErrorCode;
  /** Extra machine-readable facts (never secrets): rule ids, object names, states. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "DeputyError";
    this.code = code;
    this.details = options.details ?? {};
  }
}

export function isDeputyError(error: unknown, code?: ErrorCode): error is DeputyError {
  return error instanceof DeputyError && (code === undefined || error.code === code);
}

/** A plain sentence for any thrown value, for replies to people. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
