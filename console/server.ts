import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { LocalUser } from "../core/config/config.ts";
import { DeputyError, describeError, isDeputyError, type ErrorCode } from "../core/errors.ts";
import type { Logger } from "../core/observability/logger.ts";
import type { ConsoleEvent, EventHub } from "./events.ts";
import type { ConsoleSession } from "./session.ts";
import { resolveLocalUser } from "./users.ts";

/**
 * The local web console: a static page plus a small JSON + Server-Sent Events
 * API, on node:http, bound to loopback. It holds no logic of its own beyond
 * checking who is acting; conversations and decisions go to the session.
 *
 * Local mode has no login: anyone who can reach the port can act as any
 * configured user, which is why it binds to 127.0.0.1 and refuses requests
 * from other origins (a web page must not be able to click Approve for you).
 */

export interface ConsoleStatus {
  cluster: string;
  model: { enabled: boolean; name: string | undefined };
  approvers: string[];
  directCommands: string[];
}

export interface ConsoleServerDeps {
  host: string;
  port: number;
  users: readonly LocalUser[];
  hub: EventHub;
  session: ConsoleSession;
  status: () => ConsoleStatus;
  logger: Logger;
  /** SSE keep-alive comment interval. */
  heartbeatMs?: number;
}

export interface ConsoleServer {
  listen(): Promise<string>;
  /** The URL once listening. */
  readonly url: string;
  close(): Promise<void>;
}

const STATIC_DIR = join(import.meta.dirname, "static");
const STATIC_FILES: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/index.html": { file: "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/app.css": { file: "app.css", type: "text/css; charset=utf-8" },
  "/favicon.svg": { file: "favicon.svg", type: "image/svg+xml" },
};
const MAX_BODY_BYTES = 16 * 1024;

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

function statusFor(code: ErrorCode, rule: unknown): number {
  if (rule === "unknown-local-user" || rule === "foreign-origin") return 403;
  switch (code) {
    case "INPUT_INVALID":
      return 400;
    case "NOT_FOUND":
      return 404;
    case "APPROVAL_REFUSED":
    case "POLICY_DENIED":
      return 403;
    case "CONFLICT":
      return 409;
    case "RATE_LIMITED":
      return 429;
    default:
      return 500;
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
    "content-length": Buffer.byteLength(payload),
  });
  res.end(payload);
}

function sendError(res: ServerResponse, error: unknown, logger: Logger): void {
  if (isDeputyError(error)) {
    const status = statusFor(error.code, error.details.rule);
    if (status >= 500) logger.error({ err: error }, "console request failed");
    sendJson(res, status, { error: { code: error.code, message: error.message, rule: error.details.rule } });
    return;
  }
  logger.error({ err: error }, "console request failed");
  sendJson(res, 500, { error: { code: "INTERNAL", message: describeError(error) } });
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = req.headers["content-type"] ?? "";
  // A JSON content type cannot be sent cross-origin without a CORS preflight, which we never answer.
  if (!/^application\/json(;|$)/i.test(type)) {
    throw new DeputyError("INPUT_INVALID", "send the request body as application/json");
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES)
      throw new DeputyError("INPUT_INVALID", `the request body is over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new DeputyError("INPUT_INVALID", "the request body is not valid JSON");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new DeputyError("INPUT_INVALID", "the request body must be a JSON object");
  }
  return parsed as Record<string, unknown>;
}

export function createConsoleServer(deps: ConsoleServerDeps): ConsoleServer {
  const statics = new Map(
    Object.entries(STATIC_FILES).map(([path, { file, type }]) => [
      path,
      { body: readFileSync(join(STATIC_DIR, file)), type },
    ]),
  );
  const streams = new Set<ServerResponse>();
  // A browser that reconnects to a restarted console must reload, not resume.
  const epoch = randomBytes(8).toString("hex");
  let url = "";
  let allowedHosts = new Set<string>();

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendError(res, error, deps.logger);
      else res.end();
    });
  });

  function checkOrigin(req: IncomingMessage): void {
    // Host: defeats DNS rebinding. Origin: defeats other pages posting here.
    const host = req.headers.host ?? "";
    if (!allowedHosts.has(host.toLowerCase())) {
      throw new DeputyError("INPUT_INVALID", `requests for host "${host.slice(0, 100)}" are not served`, {
        details: { rule: "foreign-origin" },
      });
    }
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${host}`) {
      throw new DeputyError("INPUT_INVALID", `requests from origin "${origin.slice(0, 100)}" are refused`, {
        details: { rule: "foreign-origin" },
      });
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    checkOrigin(req);
    const { pathname, searchParams } = new URL(req.url ?? "/", "http://console.invalid");
    const method = req.method ?? "GET";

    const asset = statics.get(pathname);
    if (asset && (method === "GET" || method === "HEAD")) {
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        "content-type": asset.type,
        "content-length": asset.body.length,
        "cache-control": "no-cache",
      });
      res.end(method === "HEAD" ? undefined : asset.body);
      return;
    }

    if (pathname === "/api/status" && method === "GET") {
      sendJson(res, 200, {
        ...deps.status(),
        users: deps.users.map((user) => ({ id: user.id, roles: user.roles })),
      });
      return;
    }

    if (pathname === "/api/events" && method === "GET") {
      openStream(req, res, searchParams.get("after"));
      return;
    }

    if (pathname === "/api/threads" && method === "POST") {
      const body = await readJson(req);
      const { identity } = resolveLocalUser(deps.users, body.user);
      const { threadId } = deps.session.startThread(identity, body.text as string);
      sendJson(res, 202, { threadId });
      return;
    }

    const threadMessage = /^\/api\/threads\/([A-Za-z0-9_-]{1,64})\/messages$/.exec(pathname);
    if (threadMessage && method === "POST") {
      const body = await readJson(req);
      const { identity } = resolveLocalUser(deps.users, body.user);
      deps.session.postMessage(threadMessage[1]!, identity, body.text as string);
      sendJson(res, 202, { threadId: threadMessage[1] });
      return;
    }

    const decision = /^\/api\/actions\/([A-Za-z0-9_-]{1,100})\/decision$/.exec(pathname);
    if (decision && method === "POST") {
      const body = await readJson(req);
      const { identity } = resolveLocalUser(deps.users, body.user);
      if (body.decision !== "approve" && body.decision !== "reject") {
        throw new DeputyError("INPUT_INVALID", 'decision must be "approve" or "reject"');
      }
      if (
        body.digest !== undefined &&
        (typeof body.digest !== "string" || !/^[0-9a-f]{64}$/.test(body.digest))
      ) {
        throw new DeputyError("INPUT_INVALID", "digest must be the 64-character digest the card carries");
      }
      const result = await deps.session.decide(
        decision[1]!,
        identity,
        body.decision,
        typeof body.digest === "string" ? body.digest : undefined,
      );
      const status = result.status === "refused" ? 403 : result.status === "not_pending" ? 409 : 200;
      sendJson(res, status, {
        status: result.status,
        message: result.message,
        ...(result.status === "refused" ? { rule: result.rule } : {}),
        state: result.action?.state,
      });
      return;
    }

    const story = /^\/api\/actions\/([A-Za-z0-9_-]{1,100})\/story$/.exec(pathname);
    if (story && method === "GET") {
      sendJson(res, 200, await deps.session.auditStory(story[1]!));
      return;
    }

    if (pathname.startsWith("/api/")) {
      throw new DeputyError("NOT_FOUND", `no API route ${method} ${pathname.slice(0, 100)}`);
    }
    throw new DeputyError("NOT_FOUND", `no page at ${pathname.slice(0, 100)}`);
  }

  function openStream(req: IncomingMessage, res: ServerResponse, afterParam: string | null): void {
    const lastEventId = req.headers["last-event-id"];
    const raw = typeof lastEventId === "string" ? lastEventId : (afterParam ?? "0");
    const after = /^\d{1,15}$/.test(raw) ? Number(raw) : 0;
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    res.write(`retry: 1500\nevent: hello\ndata: ${JSON.stringify({ epoch })}\n\n`);
    streams.add(res);
    const send = (event: ConsoleEvent): void => {
      res.write(`id: ${event.seq}\ndata: ${JSON.stringify(event)}\n\n`);
    };
    const unsubscribe = deps.hub.subscribe(after, send);
    const heartbeat = setInterval(() => res.write(": keep-alive\n\n"), deps.heartbeatMs ?? 15000);
    heartbeat.unref();
    const stop = (): void => {
      clearInterval(heartbeat);
      unsubscribe();
      streams.delete(res);
    };
    req.on("close", stop);
    res.on("error", stop);
  }

  return {
    listen() {
      return new Promise((resolve, reject) => {
        server.once("error", (error: NodeJS.ErrnoException) => {
          const why =
            error.code === "EADDRINUSE"
              ? `port ${deps.port} on ${deps.host} is already in use (set DEPUTY_CONSOLE_PORT to another port)`
              : describeError(error);
          reject(new DeputyError("CONFIG_INVALID", `the console cannot listen: ${why}`, { cause: error }));
        });
        server.listen(deps.port, deps.host, () => {
          const { port } = server.address() as AddressInfo;
          const shownHost = deps.host.includes(":") ? `[${deps.host}]` : deps.host;
          allowedHosts = new Set(
            [`${shownHost}:${port}`, `127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`].map((h) =>
              h.toLowerCase(),
            ),
          );
          url = `http://${shownHost}:${port}/`;
          resolve(url);
        });
      });
    },
    get url() {
      return url;
    },
    close() {
      for (const res of streams) res.end();
      streams.clear();
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
