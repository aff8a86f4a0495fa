import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../core/observability/logger.ts";

function captureLogger(): { logger: ReturnType<typeof createLogger>; text: () => string } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString("utf8"));
      done();
    },
  });
  return { logger: createLogger({ level: "debug", destination }), text: () => lines.join("") };
}

describe("createLogger", () => {
  it("redacts secrets by shape in messages and values, not only under secret key names", () => {
    const { logger, text } = captureLogger();
    const aws = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const slack = "xoxe-1-My0xLTEyMzQ1Njc4OTAtMTIzNDU2Nzg5MA";
    logger.warn(
      { err: `upstream said: key ${aws}`, nested: { note: `redis://:pa55/word@cache:6379` } },
      `refresh ${slack}`,
    );
    logger.info(`plain message with ${aws}`);
    const out = text();
    expect(out).not.toContain(aws);
    expect(out).not.toContain(slack);
    expect(out).not.toContain("pa55/word");
    expect(out).toContain("redacted");
    expect(out).toContain("upstream said");
  });

  it("keeps errors readable: type, redacted message and stack", () => {
    const { logger, text } = captureLogger();
    const slack = "xoxe-1-My0xLTEyMzQ1Njc4OTAtMTIzNDU2Nzg5MA";
    logger.error({ err: new TypeError(`refresh failed for ${slack}`) }, "tool failed");
    const line = JSON.parse(text()) as { err: { type: string; message: string; stack: string } };
    expect(line.err.type).toBe("TypeError");
    expect(line.err.message).toBe("refresh failed for [redacted token]");
    expect(line.err.stack).toContain("logger.test.ts");
    expect(text()).not.toContain(slack);
  });

  it("redacts an argument list as one: the element after a secret-named flag goes whole", () => {
    const { logger, text } = captureLogger();
    logger.info(
      {
        container: { command: ["redis-cli"], args: ["-a", "R3disPw0rd", "ping"] },
        argv: ["app", "-password", "Sup3r S3cret!"],
      },
      "started",
    );
    const out = text();
    expect(out).not.toContain("R3disPw0rd");
    expect(out).not.toContain("Sup3r S3cret!");
    expect(out).toContain('"ping"');
  });
});
