import { describe, expect, it } from "vitest";
import { createAuditLog, hashRecord, type AuditRecord } from "../../core/audit/log.ts";
import { verifyAuditChain } from "../../core/audit/verify.ts";
import { Writable } from "node:stream";

/** A real chain of n pino lines, captured from the real AuditLog. */
function chain(n: number, id?: string): string[] {
  const out: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      out.push(
        ...chunk
          .toString()
          .split("\n")
          .filter((line) => line.length > 0),
      );
      callback();
    },
  });
  const audit = createAuditLog({ destination, chain: id });
  for (let i = 0; i < n; i++) audit.record({ kind: "tool_call", tool: "list_pods", arguments: { i } });
  return out;
}

function edit(line: string, change: (record: AuditRecord) => void, rehash = false): string {
  const parsed = JSON.parse(line) as { audit: AuditRecord };
  change(parsed.audit);
  if (rehash) {
    const { hash: _hash, ...body } = parsed.audit;
    parsed.audit.hash = hashRecord(body);
  }
  return JSON.stringify(parsed);
}

describe("verifyAuditChain", () => {
  it("accepts an intact chain", async () => {
    const lines = chain(6);
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toHaveLength(6);
    expect(verifyAuditChain([...lines, ""])).toMatchObject({ ok: true, records: 6, lastSeq: 5 });
  });

  it("names an altered line", () => {
    const lines = chain(5);
    lines[2] = edit(lines[2]!, (r) => (r.arguments = { i: 99 }));
    expect(verifyAuditChain(lines)).toMatchObject({ ok: false, break: { line: 3, reason: "edited" } });
  });

  it("names the line after an altered and re-hashed line", () => {
    const lines = chain(5);
    lines[1] = edit(lines[1]!, (r) => (r.tool = "delete_pod"), true);
    expect(verifyAuditChain(lines)).toMatchObject({ ok: false, break: { line: 3, reason: "edited" } });
  });

  it("names where a line was deleted", () => {
    const lines = chain(5);
    lines.splice(2, 1);
    const result = verifyAuditChain(lines);
    expect(result).toMatchObject({ ok: false, break: { line: 3, reason: "deleted" } });
    expect(!result.ok && result.break.message).toContain("seq 2");
  });

  it("names a deleted first line", () => {
    const lines = chain(3).slice(1);
    expect(verifyAuditChain(lines)).toMatchObject({ ok: false, break: { line: 1, reason: "deleted" } });
  });

  it("names swapped lines as reordered", () => {
    const lines = chain(5);
    [lines[1], lines[2]] = [lines[2]!, lines[1]!];
    expect(verifyAuditChain(lines)).toMatchObject({ ok: false, break: { line: 2, reason: "reordered" } });
  });

  it("names a line moved back as reordered", () => {
    const lines = chain(5);
    const [moved] = lines.splice(1, 1);
    lines.push(moved!);
    expect(verifyAuditChain(lines)).toMatchObject({ ok: false, break: { line: 2, reason: "reordered" } });
  });

  it("names a duplicated line", () => {
    const lines = chain(3);
    lines.splice(2, 0, lines[1]!);
    expect(verifyAuditChain(lines)).toMatchObject({ ok: false, break: { line: 3, reason: "duplicated" } });
  });

  it("names bad JSON and foreign lines, counting physical lines", () => {
    const lines = chain(3);
    expect(verifyAuditChain([lines[0]!, "", "{not json", lines[1]!])).toMatchObject({
      ok: false,
      break: { line: 3, reason: "bad-json" },
    });
    const foreign = [lines[0]!, '{"level":30,"msg":"listening"}', lines[1]!, lines[2]!];
    expect(verifyAuditChain(foreign)).toMatchObject({ ok: false, break: { line: 2, reason: "bad-json" } });
    expect(verifyAuditChain(foreign, { ignoreOtherLines: true })).toMatchObject({ ok: true, records: 3 });
  });

  it("verifies a rotated file from a given start", () => {
    const lines = chain(4);
    const second = (JSON.parse(lines[1]!) as { audit: AuditRecord }).audit;
    expect(verifyAuditChain(lines.slice(2), { start: { seq: 2, prev: second.hash } }).ok).toBe(true);
  });

  it("verifies interleaved chains from two replicas, and names a break in either", () => {
    const a = chain(4, "mcp-0");
    const b = chain(4, "mcp-1");
    const merged = [a[0]!, b[0]!, b[1]!, a[1]!, a[2]!, b[2]!, b[3]!, a[3]!];
    expect(verifyAuditChain(merged)).toMatchObject({ ok: true, records: 8, chains: 2 });
    const withoutB2 = merged.filter((line) => line !== b[2]);
    expect(verifyAuditChain(withoutB2)).toMatchObject({ ok: false, break: { line: 6, reason: "deleted" } });
    const result = verifyAuditChain(withoutB2);
    expect(!result.ok && result.break.message).toContain("of chain mcp-1");
  });

  it("accepts an export that starts mid-chain only when asked to", () => {
    const a = chain(5, "mcp-0").slice(2);
    const b = chain(5, "mcp-1").slice(3);
    const merged = [a[0]!, b[0]!, a[1]!, b[1]!, a[2]!];
    expect(verifyAuditChain(merged)).toMatchObject({ ok: false, break: { line: 1, reason: "deleted" } });
    expect(verifyAuditChain(merged, { partial: true })).toMatchObject({ ok: true, chains: 2 });
    const edited = [...merged];
    edited[3] = edit(edited[3]!, (r) => (r.tool = "delete_pod"));
    expect(verifyAuditChain(edited, { partial: true })).toMatchObject({
      ok: false,
      break: { line: 4, reason: "edited" },
    });
  });
});

describe("anchored chains", () => {
  it("catches records deleted from the end, which the chain alone cannot", () => {
    const lines = chain(5, "mcp-0");
    const head = (JSON.parse(lines[4]!) as { audit: AuditRecord }).audit;
    const anchors = { "mcp-0": { seq: head.seq, hash: head.hash } };
    expect(verifyAuditChain(lines, { anchors }).ok).toBe(true);
    const truncated = lines.slice(0, 3);
    expect(verifyAuditChain(truncated).ok).toBe(true);
    const result = verifyAuditChain(truncated, { anchors });
    expect(result).toMatchObject({ ok: false, break: { line: 4, reason: "truncated" } });
    expect(!result.ok && result.break.message).toContain("2 records deleted from the end");
  });

  it("catches a re-hashed last line that no longer matches its anchor", () => {
    const lines = chain(3, "mcp-0");
    const head = (JSON.parse(lines[2]!) as { audit: AuditRecord }).audit;
    lines[2] = edit(lines[2]!, (r) => (r.tool = "delete_pod"), true);
    expect(verifyAuditChain(lines).ok).toBe(true);
    expect(
      verifyAuditChain(lines, { anchors: { "mcp-0": { seq: head.seq, hash: head.hash } } }),
    ).toMatchObject({
      ok: false,
      break: { line: 3, reason: "edited" },
    });
  });
});
