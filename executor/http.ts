import http from "node:http";
import type { AddressInfo } from "node:net";
import { describeError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import type { ApprovalDecider } from "./approval-executor.ts";

/**
 * The executor's decision endpoint for the cluster: POST /v1/decisions with
 * { actionId, approver, decision } answers a DecisionResult. In production
 * only the agent (the Slack bot) can reach it — Istio's AuthorizationPolicy
 * allows just the agent's SPIFFE principal — and the MCP server cannot, so the
 * model has no route to an approval. Bodies are small and validated by the
 * executor; nothing here trusts the caller with more than an opaque id.
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

export function createExecutorHttpHandler(
  executor: ApprovalDecider,
  logger: Logger,
): (request: http.IncomingMessage, response: http.ServerResponse) => void {
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
    void (async () => {
      const text = await readBody(request);
      if (text === undefined)
        return send(response, 413, { error: `Body larger than ${MAX_BODY_BYTES} bytes` });
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return send(response, 400, { error: "Body is not JSON" });
      }
      const result = await executor.decide(body as Parameters<ApprovalDecider["decide"]>[0]);
      send(response, result.status === "refused" && result.rule === "invalid-request" ? 400 : 200, result);
    })().catch((error: unknown) => {
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
  close(): Promise<void>;
}

export async function startExecutorHttpServer(options: {
  executor: ApprovalDecider;
  logger: Logger;
  host: string;
  port: number;
}): Promise<ExecutorHttpServer> {
  const server = http.createServer(createExecutorHttpHandler(options.executor, options.logger));
  server.requestTimeout = 120_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
