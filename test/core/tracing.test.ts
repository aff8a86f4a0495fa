import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuditLog } from "../../core/audit/log.ts";
import { createLogger } from "../../core/observability/logger.ts";
import {
  currentTraceId,
  extractTraceContext,
  injectTraceContext,
  inSpan,
  startTracing,
  tracingWanted,
} from "../../core/observability/tracing.ts";
import { startOtlpReceiver, type OtlpReceiver } from "../helpers/otlp-receiver.ts";

/** Lines written to a stream, parsed. */
function sink(): { destination: Writable; lines: () => Record<string, unknown>[] } {
  let text = "";
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return {
    destination,
    lines: () =>
      text
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

let otlp: OtlpReceiver;

beforeAll(async () => {
  otlp = await startOtlpReceiver();
});

afterAll(async () => {
  await otlp?.close();
});

describe("tracing configuration (OTEL_*)", () => {
  it("is off by default and on only when the environment asks", () => {
    expect(tracingWanted({})).toBe(false);
    expect(tracingWanted({ OTEL_SERVICE_NAME: "x" })).toBe(false);
    expect(tracingWanted({ OTEL_TRACES_EXPORTER: "otlp" })).toBe(true);
    expect(tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" })).toBe(true);
    expect(tracingWanted({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://collector:4318/v1/traces" })).toBe(
      true,
    );
    expect(
      tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_TRACES_EXPORTER: "none" }),
    ).toBe(false);
    expect(tracingWanted({ OTEL_TRACES_EXPORTER: "otlp", OTEL_SDK_DISABLED: "true" })).toBe(false);
    expect(() => tracingWanted({ OTEL_TRACES_EXPORTER: "zipkin" })).toThrow(/"otlp" only/);
    expect(() =>
      startTracing("deputy-test", { OTEL_TRACES_EXPORTER: "otlp", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }),
    ).toThrow(/http\/json/);
  });

  it("while off: no trace id in logs or audit records, nothing propagated", async () => {
    const logs = sink();
    const audits = sink();
    const logger = createLogger({ destination: logs.destination });
    const audit = createAuditLog({ destination: audits.destination });
    await inSpan("work", {}, async () => {
      expect(currentTraceId()).toBeUndefined();
      expect(injectTraceContext()).toEqual({});
      logger.info("inside");
      audit.record({ kind: "tool_call", tool: "list_pods" });
    });
    expect(logs.lines()[0]).not.toHaveProperty("traceId");
    expect(audits.lines()[0]!.audit).not.toHaveProperty("traceId");
  });

  it("when on: spans export over OTLP/HTTP JSON, continue a remote parent, and name their trace in logs and audit", async () => {
    const tracing = startTracing("deputy-test", {
      OTEL_TRACES_EXPORTER: "otlp",
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    });
    expect(tracing.enabled).toBe(true);
    const logs = sink();
    const audits = sink();
    const logger = createLogger({ destination: logs.destination });
    const audit = createAuditLog({ destination: audits.destination });
    const remoteTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
    const remoteParent = "00f067aa0ba902b7";
    let headers: Record<string, string> = {};
    try {
      await inSpan(
        "server",
        { parent: extractTraceContext({ traceparent: `00-${remoteTrace}-${remoteParent}-01` }) },
        async () => {
          expect(currentTraceId()).toBe(remoteTrace);
          logger.info("inside");
          audit.record({ kind: "tool_call", tool: "list_pods" });
          await inSpan("child", {}, async () => {
            headers = injectTraceContext();
          });
        },
      );
      logger.info("outside");
    } finally {
      await tracing.shutdown();
    }
    expect(logs.lines()[0]!.traceId).toBe(remoteTrace);
    expect(logs.lines()[1]).not.toHaveProperty("traceId");
    expect((audits.lines()[0]!.audit as Record<string, unknown>).traceId).toBe(remoteTrace);
    expect(headers.traceparent).toMatch(new RegExp(`^00-${remoteTrace}-[0-9a-f]{16}-01$`));

    const server = otlp.spans.find((s) => s.name === "server")!;
    const child = otlp.spans.find((s) => s.name === "child")!;
    expect(server).toMatchObject({
      traceId: remoteTrace,
      parentSpanId: remoteParent,
      service: "deputy-test",
    });
    expect(child).toMatchObject({ traceId: remoteTrace, parentSpanId: server.spanId });
    expect(headers.traceparent).toContain(child.spanId);
    // Shut down, tracing is off again.
    expect(injectTraceContext()).toEqual({});
  });
});
