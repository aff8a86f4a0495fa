import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A local stand-in for the Anthropic Messages API, spoken to by the real
 * `@anthropic-ai/sdk` over HTTP. Replies come from a script: a list of steps
 * consumed in order, or a function that sees each request (for scripted models
 * that react to what the tools returned). Every request is recorded.
 */

export type FakeContentBlock =
  | { type: "text"; text: string }
  | { type: "tool_use"; id?: string; name: string; input: Record<string, unknown> };

export interface FakeReply {
  content: FakeContentBlock[];
  stop_reason?: "end_turn" | "tool_use" | "max_tokens" | "refusal";
  usage?: { input_tokens?: number; output_tokens?: number; cache_read_input_tokens?: number };
  /** Delay before answering, to exercise time limits. */
  delayMs?: number;
}

export interface FakeError {
  error: { status: number; type: string; message: string; retryAfterSeconds?: number };
}

export type FakeStep = FakeReply | FakeError;

export interface RecordedRequest {
  headers: IncomingMessage["headers"];
  body: MessagesRequest;
}

/** The parts of a Messages API request the tests look at. */
export interface MessagesRequest {
  model: string;
  max_tokens: number;
  system?: string | { type: "text"; text: string; cache_control?: { type: string } }[];
  tools?: {
    name: string;
    description?: string;
    input_schema: Record<string, unknown>;
    cache_control?: { type: string };
  }[];
  messages: { role: "user" | "assistant"; content: string | Record<string, unknown>[] }[];
}

export type Script = FakeStep[] | ((request: MessagesRequest, index: number) => FakeStep | Promise<FakeStep>);

export interface AnthropicFake {
  /** Base URL for the SDK's `baseURL`. */
  url: string;
  apiKey: string;
  requests: RecordedRequest[];
  /** Replace the script (and reset the step counter). */
  setScript(script: Script): void;
  close(): Promise<void>;
}

export function text(value: string): FakeReply {
  return { content: [{ type: "text", text: value }], stop_reason: "end_turn" };
}

export function toolUse(name: string, input: Record<string, unknown>, preamble?: string): FakeReply {
  return {
    content: [
      ...(preamble ? [{ type: "text" as const, text: preamble }] : []),
      { type: "tool_use", name, input },
    ],
    stop_reason: "tool_use",
  };
}

export function apiError(status: number, type: string, retryAfterSeconds?: number): FakeError {
  return { error: { status, type, message: type.replace(/_/g, " "), retryAfterSeconds } };
}

/** The text of every tool_result block in a request's last user message. */
export function lastToolResults(request: MessagesRequest): string[] {
  const last = request.messages.at(-1);
  if (!last || typeof last.content === "string") return [];
  return last.content
    .filter((block) => block.type === "tool_result")
    .map((block) => {
      const content = block.content;
      if (typeof content === "string") return content;
      if (Array.isArray(content)) return content.map((part: { text?: string }) => part.text ?? "").join("\n");
      return "";
    });
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

let idCounter = 0;

export async function startAnthropicFake(
  options: { script?: Script; apiKey?: string } = {},
): Promise<AnthropicFake> {
  const apiKey = options.apiKey ?? "sk-ant-test-0000000000000000000000";
  let script: Script = options.script ?? [];
  let index = 0;
  const requests: RecordedRequest[] = [];

  const server: Server = createServer((req, res) => {
    void (async () => {
      const send = (status: number, payload: unknown, headers: Record<string, string> = {}): void => {
        res.writeHead(status, {
          "content-type": "application/json",
          "request-id": `req_${++idCounter}`,
          ...headers,
        });
        res.end(JSON.stringify(payload));
      };
      if (req.method !== "POST" || !req.url?.startsWith("/v1/messages")) {
        send(404, {
          type: "error",
          error: { type: "not_found_error", message: `no route ${req.method} ${req.url}` },
        });
        return;
      }
      // SDK 1.x sends the key as a bearer token; older clients use x-api-key.
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
      if ((req.headers["x-api-key"] ?? bearer) !== apiKey) {
        send(401, { type: "error", error: { type: "authentication_error", message: "invalid x-api-key" } });
        return;
      }
      const body = JSON.parse(await readBody(req)) as MessagesRequest;
      requests.push({ headers: req.headers, body });
      const position = index++;
      const step = typeof script === "function" ? await script(body, position) : script[position];
      if (!step) {
        send(500, {
          type: "error",
          error: { type: "api_error", message: `fake script has no step ${position}` },
        });
        return;
      }
      if ("error" in step) {
        const headers: Record<string, string> = { "x-should-retry": "true" };
        if (step.error.retryAfterSeconds !== undefined)
          headers["retry-after"] = String(step.error.retryAfterSeconds);
        send(
          step.error.status,
          { type: "error", error: { type: step.error.type, message: step.error.message } },
          headers,
        );
        return;
      }
      if (step.delayMs) await new Promise((resolve) => setTimeout(resolve, step.delayMs));
      const content = step.content.map((block) =>
        block.type === "tool_use"
          ? { ...block, id: block.id ?? `toolu_${String(++idCounter).padStart(6, "0")}` }
          : block,
      );
      send(200, {
        id: `msg_${++idCounter}`,
        type: "message",
        role: "assistant",
        model: body.model,
        content,
        stop_reason:
          step.stop_reason ?? (content.some((block) => block.type === "tool_use") ? "tool_use" : "end_turn"),
        stop_sequence: null,
        usage: {
          input_tokens: step.usage?.input_tokens ?? 100,
          output_tokens: step.usage?.output_tokens ?? 20,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: step.usage?.cache_read_input_tokens ?? 0,
        },
      });
    })().catch((error: unknown) => {
      res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ type: "error", error: { type: "api_error", message: String(error) } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    apiKey,
    requests,
    setScript(next) {
      script = next;
      index = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
