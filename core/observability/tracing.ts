import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { DeputyError } from "../errors.ts";

/**
 * Traces across the bot, the MCP server and the executor (OpenTelemetry).
 * One call per process entry point starts the SDK (`startTracing`); the rest
 * of the code uses the API only (`inSpan`, `injectTraceContext`,
 * `extractTraceContext`, `currentTraceId`), which is a no-op while tracing is
 * off: no context manager, no propagator, no span objects beyond the API's
 * shared non-recording one.
 *
 * Configuration is the standard OTEL_* environment, off by default:
 * OTEL_TRACES_EXPORTER=otlp (or an OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT with no
 * exporter named) turns it on; OTEL_SDK_DISABLED=true or
 * OTEL_TRACES_EXPORTER=none keeps it off. The exporter sends OTLP/HTTP JSON
 * (OTEL_EXPORTER_OTLP_PROTOCOL may be unset or http/json), and reads the
 * endpoint, headers and timeout variables itself; OTEL_BSP_* and
 * OTEL_TRACES_SAMPLER work as the SDK documents them.
 */

const TRACER = "deputy";

export interface Tracing {
  readonly enabled: boolean;
  /** Export what is buffered and stop (call before the process exits). */
  shutdown(): Promise<void>;
}

const OFF: Tracing = { enabled: false, shutdown: async () => undefined };

/** Whether the OTEL_* environment asks for traces; a DeputyError for an exporter Deputy does not have. */
export function tracingWanted(env: NodeJS.ProcessEnv): boolean {
  if ((env.OTEL_SDK_DISABLED ?? "").toLowerCase() === "true") return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? "")
    .split(",")
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name.length > 0);
  if (exporters.length === 0) {
    return Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT);
  }
  if (exporters.includes("none")) return false;
  const unknown = exporters.filter((name) => name !== "otlp");
  if (unknown.length > 0) {
    throw new DeputyError(
      "CONFIG_INVALID",
      `OTEL_TRACES_EXPORTER=${env.OTEL_TRACES_EXPORTER}: Deputy exports traces with "otlp" only (or "none")`,
    );
  }
  return true;
}

let started: Tracing = OFF;

/**
 * Start tracing for this process when the environment asks for it. The
 * service name is OTEL_SERVICE_NAME, or the component's own
 * (`deputy-bot`, `deputy-mcp`, `deputy-executor`, `deputy`).
 */
export function startTracing(serviceName: string, env: NodeJS.ProcessEnv = process.env): Tracing {
  if (started.enabled || !tracingWanted(env)) return started;
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL;
  if (protocol !== undefined && protocol !== "" && protocol !== "http/json") {
    throw new DeputyError(
      "CONFIG_INVALID",
      `OTEL_EXPORTER_OTLP_PROTOCOL=${protocol}: Deputy's exporter speaks OTLP over HTTP with JSON ("http/json")`,
    );
  }
  // The exporter reads headers, timeout and the rest from the environment itself; the endpoint comes from `env`.
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.replace(/\/+$/, "");
  const url = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || (base ? `${base}/v1/traces` : undefined);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ "service.name": env.OTEL_SERVICE_NAME || serviceName }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter(url ? { url } : {}))],
  });
  // Registers the AsyncLocalStorage context manager and W3C trace-context propagation.
  provider.register({ propagator: new W3CTraceContextPropagator() });
  started = {
    enabled: true,
    shutdown: async () => {
      await provider.shutdown();
      // Off again, as if never started (the benchmark turns tracing on and off in one process).
      trace.disable();
      context.disable();
      propagation.disable();
      started = OFF;
    },
  };
  return started;
}

export interface SpanOptions {
  attributes?: Attributes;
  kind?: SpanKind;
  /** The parent (e.g. a remote context from `extractTraceContext`); the active context when unset. */
  parent?: Context;
}

/** The start options of a span (kind, attributes), the same for sync and async work. */
function startOptions(options: SpanOptions): { kind: SpanKind; attributes?: SpanOptions["attributes"] } {
  return {
    kind: options.kind ?? SpanKind.INTERNAL,
    ...(options.attributes ? { attributes: options.attributes } : {}),
  };
}

/** A thrown error marks the span failed: its message, never a value. */
function markFailed(span: Span, error: unknown): void {
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message.slice(0, 300) : "failed",
  });
}

/**
 * Run `work` in a child span of the active (or given) context. The span ends
 * when `work` settles; a thrown error marks it failed (its message, never a
 * value: Deputy's errors carry no secrets, and the span records no arguments).
 */
export function inSpan<T>(name: string, options: SpanOptions, work: (span: Span) => Promise<T>): Promise<T> {
  const tracer = trace.getTracer(TRACER);
  return tracer.startActiveSpan(
    name,
    startOptions(options),
    options.parent ?? context.active(),
    async (span) => {
      try {
        return await work(span);
      } catch (error) {
        markFailed(span, error);
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/** `inSpan` for synchronous work. */
export function inSpanSync<T>(name: string, options: SpanOptions, work: (span: Span) => T): T {
  const tracer = trace.getTracer(TRACER);
  return tracer.startActiveSpan(name, startOptions(options), options.parent ?? context.active(), (span) => {
    try {
      return work(span);
    } catch (error) {
      markFailed(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** The W3C headers (`traceparent`, `tracestate`) of the active context; empty while tracing is off. */
export function injectTraceContext(carrier: Record<string, string> = {}): Record<string, string> {
  propagation.inject(context.active(), carrier);
  return carrier;
}

/** The remote parent named by W3C `traceparent`/`tracestate` in headers or an MCP `_meta`. */
export function extractTraceContext(carrier: unknown): Context {
  if (carrier === null || typeof carrier !== "object") return context.active();
  const fields: Record<string, string> = {};
  for (const key of ["traceparent", "tracestate"]) {
    const value = (carrier as Record<string, unknown>)[key];
    if (typeof value === "string") fields[key] = value;
    else if (Array.isArray(value) && typeof value[0] === "string") fields[key] = value[0];
  }
  if (fields.traceparent === undefined) return context.active();
  return propagation.extract(ROOT_CONTEXT, fields);
}

/** The trace id of the active span, for audit records and log lines; undefined while tracing is off. */
export function currentTraceId(): string | undefined {
  const span = trace.getActiveSpan();
  if (span === undefined) return undefined;
  const { traceId, traceFlags } = span.spanContext();
  return traceFlags !== undefined && trace.isSpanContextValid(span.spanContext()) ? traceId : undefined;
}

export { SpanKind };
