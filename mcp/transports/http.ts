import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { ASSERTION_HEADER, type CallerVerifier } from "../../core/identity/caller-auth.ts";
import { describeError } from "../../core/errors.ts";
import type { McpDeps } from "../deps.ts";
import { createMcpServer, type CallerTrust } from "../server.ts";

/**
 * Streamable HTTP on `/mcp` (stateless: every POST gets a fresh server and
 * transport, so any replica can answer any request), plus `/healthz`
 * (process alive) and `/readyz` (the Kubernetes API answers). In a cluster,
 * Istio's mTLS and AuthorizationPolicy decide who may reach `/mcp`, and the
 * application checks again: every POST must carry the bot's signed assertion
 * (core/identity/caller-auth.ts), and the requester is the one that assertion names,
 * never `_meta` as given; anything else is answered 401 and audited. By
 * default it binds to 127.0.0.1.
 */
export interface HttpServerOptions {
  /**
   * Who may call /mcp: a verifier of the bot's assertion (every deployed
   * server), or "anonymous" (local mode's loopback listener for other MCP
   * clients: served, but `_meta` identities are ignored, so only reads work).
   */
  callers: CallerVerifier | "anonymous";
  host?: string;
  port?: number;
  /** Largest accepted request body. */
  maxBodyBytes?: number;
  /**
   * Host headers accepted on /mcp. Defaults to the loopback names when bound
   * to loopback (a web page rebinding its DNS to 127.0.0.1 is refused), and
   * to any host otherwise (in a cluster, Istio decides who gets here).
   */
  allowedHosts?: readonly string[];
}

export interface RunningHttpServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

const READY_CACHE_MS = 5000;

async function readJson(req: IncomingMessage, limit: number): Promise<{ text: string; json: unknown }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw Object.assign(new Error(`request body exceeds ${limit} bytes`), { status: 413 });
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  try {
    return { text, json: JSON.parse(text) };
  } catch {
    throw Object.assign(new Error("request body is not JSON"), { status: 400 });
  }
}

function send(res: ServerResponse, status: number, body: string | Record<string, unknown>): void {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, {
    "content-type": typeof body === "string" ? "text/plain; charset=utf-8" : "application/json",
  });
  res.end(text);
}

function jsonRpcError(res: ServerResponse, status: number, message: string): void {
  send(res, status, { jsonrpc: "2.0", error: { code: -32600, message }, id: null });
}

export async function startHttpServer(deps: McpDeps, options: HttpServerOptions): Promise<RunningHttpServer> {
  const host = options.host ?? deps.config.mcp.host;
  const port = options.port ?? deps.config.mcp.port;
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const loopback = host === "127.0.0.1" || host === "localhost" || host === "::1";
  const allowedHosts = options.allowedHosts ?? (loopback ? ["127.0.0.1", "localhost", "[::1]"] : undefined);
  const logger = deps.logger.child({ component: "mcp-http" });
  let readiness: { at: number; ok: boolean; message: string } | undefined;

  const ready = async (): Promise<{ ok: boolean; message: string }> => {
    if (readiness && Date.now() - readiness.at < READY_CACHE_MS) return readiness;
    try {
      const version = await deps.kube.get<{ gitVersion?: string }>(
        "/version",
        undefined,
        AbortSignal.timeout(3000),
      );
      readiness = { at: Date.now(), ok: true, message: `kubernetes ${version.gitVersion ?? "?"} reachable` };
    } catch (error) {
      readiness = {
        at: Date.now(),
        ok: false,
        message: `kubernetes API unreachable: ${describeError(error)}`,
      };
    }
    return readiness;
  };

  const hostAllowed = (req: IncomingMessage): boolean => {
    if (!allowedHosts) return true;
    const header = (req.headers.host ?? "").toLowerCase();
    return allowedHosts.some((h) => header === h || header.startsWith(`${h}:`));
  };

  const handleMcp = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!hostAllowed(req)) {
      jsonRpcError(res, 403, `Host "${req.headers.host ?? ""}" is not allowed`);
      return;
    }
    if (req.method !== "POST") {
      // Stateless: no server-initiated streams and no sessions to delete.
      res.setHeader("allow", "POST");
      jsonRpcError(res, 405, "Method not allowed: this server is stateless; use POST");
      return;
    }
    let body: { text: string; json: unknown };
    try {
      body = await readJson(req, maxBodyBytes);
    } catch (error) {
      jsonRpcError(res, (error as { status?: number }).status ?? 400, describeError(error));
      return;
    }
    let callerTrust: CallerTrust = { kind: "anonymous" };
    if (options.callers !== "anonymous") {
      const verified = await options.callers.verify({
        header: req.headers[ASSERTION_HEADER],
        method: req.method,
        path: (req.url ?? "/").split("?")[0] ?? "/",
        body: body.text,
      });
      if (!verified.ok) {
        deps.audit.record({
          kind: "policy_decision",
          decision: "refused",
          rule: "caller-unauthenticated",
          message: `POST /mcp from an unauthenticated caller refused: ${verified.reason}`,
          cluster: deps.config.kube.clusterName,
          details: { remote: req.socket.remoteAddress },
        });
        logger.warn({ reason: verified.reason }, "unauthenticated MCP request refused");
        jsonRpcError(
          res,
          401,
          `Unauthenticated: ${verified.reason}. Only Deputy's bot may call this server.`,
        );
        return;
      }
      callerTrust = { kind: "verified", claims: verified.claims };
    }
    const server = createMcpServer(deps, { callerTrust });
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    res.on("close", () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body.json);
  };

  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const route = async (): Promise<void> => {
      if (path === "/mcp" || path === "/mcp/") return handleMcp(req, res);
      if (path === "/healthz") return send(res, 200, "ok\n");
      if (path === "/readyz") {
        const state = await ready();
        return send(res, state.ok ? 200 : 503, `${state.message}\n`);
      }
      send(res, 404, "not found\n");
    };
    route().catch((error: unknown) => {
      logger.error({ err: error }, "MCP HTTP request failed");
      if (!res.headersSent) jsonRpcError(res, 500, "internal error");
      else res.end();
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `http://${shownHost}:${address.port}/mcp`;
  logger.info({ url }, "MCP server listening");
  return {
    url,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
