import { createServer, type Server } from "node:http";

/** One span as a process exported it over OTLP/HTTP JSON. */
export interface ExportedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
}

export interface OtlpReceiver {
  server: Server;
  /** The base URL, as OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces). */
  url: string;
  /** Every span received, in the order it arrived. */
  spans: ExportedSpan[];
  /** Requests that were not OTLP/HTTP JSON on /v1/traces: a test expects none. */
  rejected: string[];
  close(): Promise<void>;
}

/** The OTEL_* environment that sends a Deputy process's traces to `receiver` (docs/operator-guide.md, "Traces"). */
export function otlpEnv(receiver: OtlpReceiver, scheduleDelayMs: number): Record<string, string> {
  return {
    OTEL_TRACES_EXPORTER: "otlp",
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_BSP_SCHEDULE_DELAY: String(scheduleDelayMs),
  };
}

interface OtlpDocument {
  resourceSpans: {
    resource: { attributes: { key: string; value: { stringValue?: string } }[] };
    scopeSpans: { spans: { traceId: string; spanId: string; parentSpanId?: string; name: string }[] }[];
  }[];
}

/** A tiny OTLP/HTTP receiver on 127.0.0.1: decodes the JSON Deputy's processes export to /v1/traces. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ExportedSpan[] = [];
  const rejected: string[] = [];
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => {
      const type = request.headers["content-type"] ?? "";
      if (request.url !== "/v1/traces" || !type.includes("application/json")) {
        rejected.push(`${request.method} ${request.url} (${type})`);
        response.writeHead(400).end();
        return;
      }
      const document = JSON.parse(body) as OtlpDocument;
      for (const resource of document.resourceSpans) {
        const service =
          resource.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue ?? "";
        for (const scope of resource.scopeSpans) {
          for (const span of scope.spans) {
            spans.push({
              service,
              traceId: span.traceId,
              spanId: span.spanId,
              ...(span.parentSpanId ? { parentSpanId: span.parentSpanId } : {}),
              name: span.name,
            });
          }
        }
      }
      response.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    spans,
    rejected,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The spans of one trace, with a way up from each to its parent. */
export function traceOf(
  spans: readonly ExportedSpan[],
  traceId: string,
): { spans: ExportedSpan[]; parentOf: (span: ExportedSpan) => ExportedSpan | undefined } {
  const inTrace = spans.filter((span) => span.traceId === traceId);
  const byId = new Map(inTrace.map((span) => [span.spanId, span]));
  return {
    spans: inTrace,
    parentOf: (span) => (span.parentSpanId ? byId.get(span.parentSpanId) : undefined),
  };
}
