import { readFileSync, writeFileSync, appendFileSync } from "node:fs";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import {
  createAuditLog,
  GENESIS_HASH,
  REDACTED,
  redactAuditText,
  type AuditRecord,
} from "../../core/audit/log.ts";
import { verifyAuditChain } from "../../core/audit/verify.ts";
import { alice, tempAuditFile, thread } from "./audit-fixtures.ts";

function lines(file: string): string[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.length > 0);
}

// Token-looking values of every kind Deputy handles.
const SECRETS = {
  jwt: "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEyMyJ9.eyJpc3MiOiJrdWJlcm5ldGVzIiwic3ViIjoic3lzdGVtIn0.c2lnbmF0dXJlLXZhbHVlLWhlcmU",
  bao: "hvs.CAESIJ2k3lq9mZr0aXH7bQ4vN8wPp1yTt6uFzGcKd",
  slack: "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
  anthropic: "sk-ant-api03-AAAAbbbbCCCCddddEEEEffff1234",
  password: "hunter2-correct-horse",
};

describe("audit log", () => {
  it("chains records: each prev is the previous hash and seq counts up", () => {
    const records: AuditRecord[] = [];
    const audit = createAuditLog({
      destination: new Writable({ write: (_c, _e, cb) => cb() }),
      onRecord: (r) => records.push(r),
    });
    audit.record({ kind: "tool_call", tool: "list_pods" });
    audit.record({ kind: "tool_call", tool: "describe_pod" });
    expect(records.map((r) => r.seq)).toEqual([0, 1]);
    expect(records[0]!.prev).toBe(GENESIS_HASH);
    expect(records[1]!.prev).toBe(records[0]!.hash);
    expect(records[0]!.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("writes a file that verifies, and resumes the chain after a restart", () => {
    const file = tempAuditFile();
    const first = createAuditLog({ file, chain: "mcp-0" });
    first.record({ kind: "tool_call", tool: "list_pods", actor: alice, conversation: thread });
    first.record({ kind: "tool_call", tool: "get_events" });
    const second = createAuditLog({ file });
    const resumed = second.record({ kind: "tool_call", tool: "check_logs" });
    expect(resumed.seq).toBe(2);
    expect(resumed.chain).toBe((JSON.parse(lines(file)[0]!) as { audit: AuditRecord }).audit.chain);
    const written = lines(file);
    expect(written).toHaveLength(3);
    expect(resumed.prev).toBe((JSON.parse(written[1]!) as { audit: AuditRecord }).audit.hash);
    expect(verifyAuditChain(written)).toMatchObject({ ok: true, records: 3, lastSeq: 2 });
  });

  it("refuses to continue a file whose last line is not an audit record", () => {
    const file = tempAuditFile();
    createAuditLog({ file }).record({ kind: "tool_call", tool: "list_pods" });
    appendFileSync(file, '{"audit": "truncated…\n');
    expect(() => createAuditLog({ file })).toThrow(/not an audit record/);
  });

  it("redacts token-looking values in arguments, prompt, message and details before hashing", () => {
    const file = tempAuditFile();
    const observed: AuditRecord[] = [];
    const audit = createAuditLog({ file, onRecord: (r) => observed.push(r) });
    audit.record({
      kind: "tool_call",
      actor: alice,
      prompt: `use ${SECRETS.bao} and Bearer ${SECRETS.jwt} to restart`,
      tool: "set_deployment_env",
      arguments: {
        namespace: "shop",
        name: "checkout",
        env: [{ name: "API_KEY", value: SECRETS.anthropic }],
        token: 12345,
        password: "",
        nested: {
          client_token: SECRETS.bao,
          service_account_token: SECRETS.jwt,
          note: `slack ${SECRETS.slack}`,
        },
        url: `https://admin:${SECRETS.password}@db.internal/`,
      },
      message: `password=${SECRETS.password} and ${SECRETS.slack}`,
      details: { authorization: `Bearer ${SECRETS.jwt}` },
    });
    const text = readFileSync(file, "utf8");
    for (const secret of Object.values(SECRETS)) expect(text).not.toContain(secret);
    for (const secret of Object.values(SECRETS)) expect(JSON.stringify(observed)).not.toContain(secret);
    const record = (JSON.parse(lines(file)[0]!) as { audit: AuditRecord }).audit;
    expect(record.arguments).toMatchObject({ namespace: "shop", name: "checkout", token: REDACTED });
    expect(record.prompt).toMatch(/^use \[redacted.*\] and Bearer \[redacted.*\] to restart$/);
    expect(record.arguments!.url).toBe(`https://admin:${REDACTED}@db.internal/`);
    expect(record.details).toEqual({ authorization: REDACTED });
    // Redaction happened before hashing, so pino's own redaction changed nothing.
    expect(verifyAuditChain(lines(file)).ok).toBe(true);
  });

  it("keeps ordinary text, lease ids and resource names intact", () => {
    expect(
      redactAuditText("restart deployment shop/checkout, 3 pods, lease kubernetes/creds/deputy/abc"),
    ).toBe("restart deployment shop/checkout, 3 pods, lease kubernetes/creds/deputy/abc");
  });

  it("hashes Dates as the strings a reader parses back", () => {
    const file = tempAuditFile();
    createAuditLog({ file }).record({
      kind: "tool_call",
      tool: "get_events",
      arguments: { since: new Date(0), list: [1, undefined] },
    });
    expect(verifyAuditChain(lines(file)).ok).toBe(true);
  });

  it("writes to the destination and the file together", () => {
    const file = tempAuditFile();
    const chunks: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk.toString());
        callback();
      },
    });
    createAuditLog({ file, destination }).record({ kind: "tool_call", tool: "list_pods" });
    expect(lines(file)).toHaveLength(1);
    expect(chunks.join("")).toContain('"tool":"list_pods"');
  });

  it("still records when an observer throws", () => {
    const file = tempAuditFile();
    const errors: unknown[] = [];
    const audit = createAuditLog({
      file,
      onRecord: [
        () => {
          throw new Error("boom");
        },
      ],
      onObserverError: (error) => errors.push(error),
    });
    audit.record({ kind: "tool_call", tool: "list_pods" });
    expect(errors).toHaveLength(1);
    expect(lines(file)).toHaveLength(1);
  });

  it("starts a new chain for an empty file", () => {
    const file = tempAuditFile();
    writeFileSync(file, "\n");
    expect(createAuditLog({ file }).record({ kind: "tool_call" }).prev).toBe(GENESIS_HASH);
  });
});
