import http from "node:http";
import type { AddressInfo } from "node:net";
import type { AuditLog } from "../core/audit/log.ts";
import { ASSERTION_HEADER, type CallerVerifier } from "../core/identity/caller-auth.ts";
import { describeError } from "../core/errors.ts";
import type { Logger } from "../core/observability/logger.ts";
import { extractTraceContext, inSpan, SpanKind } from "../core/observability/tracing.ts";
import type { PendingAction } from "../core/actions/schema.ts";
import type { ApprovalDecider } from "./approval-executor.ts";

/**
 * The executor's decision endpoint for the cluster: POST /v1/decisions with
 * { actionId, approver, decision } answers a DecisionResult. In production
 * only the agent (the Slack bot) can reach it — Istio's AuthorizationPolicy
 * allows just the agent's SPIFFE principal — and the MCP server cannot, so the
 * model has no route to an approval. The mesh is one layer; the endpoint
 * checks again: every request carries the bot's signed assertion
 * (core/identity/caller-auth.ts) over this exact method, path and body, or it is
 * answered 401 and audited, and nothing is decided. Bodies are small and
 * validated by the executor.
 */
export const DECISIONS_PATH = "/v1/decisions";
const MAX_BODY_BYTES = 16 * 1024;

function send(response: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  response.end(text);
}

async function readBody(request: http.IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export interface ExecutorHttpOptions {
  executor: ApprovalDecider;
  logger: Logger;
  /** Verifies the bot's assertion (key: executorCaller). There is no unauthenticated mode. */
  callers: CallerVerifier;
  audit: AuditLog;
  /**
   * Tells the action's thread its result when the bot that asked is no longer
   * waiting for the answer (it timed out, or its connection dropped while a
   * long action ran): queueActionNotice in production.
   */
  notify?: ((action: PendingAction, text: string) => Promise<void>) | undefined;
}

/**
 * Answers one request; for a decision, the returned promise settles once it
 * is decided, run, recorded and answered (the server waits for it on close).
 */
export function createExecutorHttpHandler(
  options: ExecutorHttpOptions,
): (request: http.IncomingMessage, response: http.ServerResponse) => Promise<void> | void {
  const { executor, logger, callers, audit, notify } = options;
  return (request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    if (path === "/healthz" && request.method === "GET") return send(response, 200, { ok: true });
    if (path !== DECISIONS_PATH) return send(response, 404, { error: `No route ${path}` });
    if (request.method !== "POST") {
      response.setHeader("allow", "POST");
      return send(response, 405, { error: "Use POST" });
    }
    if (!(request.headers["content-type"] ?? "").startsWith("application/json")) {
      return send(response, 415, { error: "Send application/json" });
    }
    // The bot's trace continues here (W3C `traceparent` header): decision, OpenBao and Kubernetes spans are its children.
    const parent = extractTraceContext(request.headers);
    return inSpan("executor POST /v1/decisions", { kind: SpanKind.SERVER, parent }, async () => {
      const text = await readBody(request);
      if (text === undefined)
        return send(response, 413, { error: `Body larger than ${MAX_BODY_BYTES} bytes` });
      const verified = await callers.verify({
        header: request.headers[ASSERTION_HEADER],
        method: request.method ?? "",
        path,
        body: text,
      });
      if (!verified.ok) {
        audit.record({
          kind: "policy_decision",
          decision: "refused",
          rule: "caller-unauthenticated",
          message: `POST ${DECISIONS_PATH} from an unauthenticated caller refused: ${verified.reason}`,
          details: { remote: request.socket.remoteAddress },
        });
        logger.warn({ reason: verified.reason }, "unauthenticated decision request refused");
        return send(response, 401, {
          error: `Unauthenticated: ${verified.reason}. Only Deputy's bot may send decisions; nothing was decided.`,
        });
      }
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return send(response, 400, { error: "Body is not JSON" });
      }
      // The bot may stop waiting (its timeout, a dropped connection) while a long action runs.
      let callerGone = false;
      response.on("close", () => {
        if (!response.writableFinished) callerGone = true;
      });
      const result = await executor.decide(body as Parameters<ApprovalDecider["decide"]>[0], {
        ...(verified.claims.approverGroups ? { verifiedApproverGroups: verified.claims.approverGroups } : {}),
        ...(verified.claims.groupMembers ? { verifiedGroupMembers: verified.claims.groupMembers } : {}),
      });
      if (callerGone || response.destroyed) {
        // Nobody will read this answer: the result goes to the action's thread instead.
        if (result.action && result.status !== "refused" && result.status !== "not_pending") {
          await notify?.(result.action, result.message).catch((error: unknown) =>
            logger.warn(
              { err: describeError(error), actionId: result.action?.id },
              "could not queue the result",
            ),
          );
        }
        return;
      }
      send(response, result.status === "refused" && result.rule === "invalid-request" ? 400 : 200, result);
    }).catch((error: unknown) => {
      logger.error({ err: describeError(error) }, "decision failed");
      if (!response.headersSent)
        send(response, 500, {
          error: "The executor failed; the action state is unchanged or failed, see the audit trail",
        });
    });
  };
}

export interface ExecutorHttpServer {
  url: string;
  /** Decisions taken and not yet answered. */
  readonly running: number;
  /**
   * Stop taking decisions and wait for those already taken: each runs to its
   * end and is recorded and answered before this resolves. Close it before
   * what they need (Redis, the heartbeats that keep another executor from
   * calling them interrupted).
   */
  close(): Promise<void>;
}

export async function startExecutorHttpServer(
  options: ExecutorHttpOptions & { host: string; port: number },
): Promise<ExecutorHttpServer> {
  const handle = createExecutorHttpHandler(options);
  const running = new Set<Promise<void>>();
  let stopping = false;
  const server = http.createServer((request, response) => {
    if (stopping) {
      // A keep-alive connection outlives server.close(): a decision arriving on it now is not taken.
      response.setHeader("connection", "close");
      return send(response, 503, {
        error: "The executor is stopping; nothing was decided. Send the decision again.",
      });
    }
    const decision = handle(request, response);
    if (decision) {
      running.add(decision);
      // The handler answers its own failures; this only keeps the count (and no rejection unhandled).
      void decision.finally(() => running.delete(decision)).catch(() => undefined);
    }
  });
  server.requestTimeout = 120_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    get running() {
      return running.size;
    },
    async close() {
      stopping = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Cutting a decision off mid-run would leave its action executing with nobody to record
      // how it ended, and its caller without an answer.
      while (running.size > 0) await Promise.allSettled([...running]);
      server.closeAllConnections();
      await closed;
    },
  };
}
