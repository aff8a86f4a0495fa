import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createAuditLog } from "../../core/audit/log.ts";
import { verifyAuditChain } from "../../core/audit/verify.ts";

describe("audit redaction of the formats found by shape", () => {
  it("keeps them out of every written line, and the chain still verifies", () => {
    const aws = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const slack = "xoxe-1-My0xLTEyMzQ1Njc4OTAtMTIzNDU2Nzg5MA";
    const pgPassword = "Pa55/w0rd9x";
    const written: string[] = [];
    const audit = createAuditLog({
      destination: new Writable({
        write(chunk: Buffer, _encoding, done) {
          written.push(chunk.toString("utf8"));
          done();
        },
      }),
    });
    audit.record({
      kind: "tool_call",
      tool: "set_deployment_env",
      prompt: `rotate to ${slack}`,
      arguments: { env: [{ name: "S3_CREDS_NOTE", value: `key ${aws}` }] },
      message: `dial postgres://shop:${pgPassword}@db:5432/shop failed`,
      details: { note: `aws_secret_access_key   ${aws}` },
    });
    const text = written.join("");
    for (const secret of [aws, slack, pgPassword]) expect(text).not.toContain(secret);
    const lines = text.split("\n").filter((line) => line.length > 0);
    expect(verifyAuditChain(lines).ok).toBe(true);
  });
});
