import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { createAuditLog, type AuditEvent } from "../core/audit/log.ts";
import { verifyAuditChain } from "../core/audit/verify.ts";
import { createLogger } from "../core/observability/logger.ts";
import { interleaved, spreadNote, spreadOf, type Sample } from "./compare.ts";

/**
 * What the tamper-evident audit trail costs: records per second through the
 * real AuditLog (redaction, canonical JSON, sha256 chain, pino) against plain
 * pino logging the same event, in the same run, to a discarding stream (CPU
 * only) and to a synchronously written file (what `DEPUTY_AUDIT_FILE` does);
 * plus how fast `deputy audit verify` checks a chain.
 */

export interface BenchLine {
  name: string;
  value: number;
  unit: string;
}

const RECORDS = 20_000;

function event(i: number): AuditEvent {
  return {
    kind: "tool_call",
    actionId: `act_bench${String(i).padStart(20, "0")}`,
    actor: { kind: "slack", id: "U0ALICE", teamId: "T0TEAM", name: "alice" },
    conversation: { surface: "slack", teamId: "T0TEAM", channel: "C0OPS", thread: "1700000000.000100" },
    prompt: "why is checkout crashing in shop? restart it if it helps",
    tool: "restart_deployment",
    arguments: { namespace: "shop", name: "checkout", reason: "pods crash on start" },
    outcome: "ok",
    durationMs: 12,
    cluster: "local",
  };
}

function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() });
}

function perSecond(count: number, run: () => void): number {
  const start = process.hrtime.bigint();
  run();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return Math.round(count / seconds);
}

export async function run(): Promise<BenchLine[]> {
  const dir = mkdtempSync(join(tmpdir(), "deputy-audit-bench-"));
  try {
    // Warm up both paths so the JIT is fair to each.
    const warmAudit = createAuditLog({ destination: discard() });
    const warmPino = createLogger({ name: "audit", destination: discard() });
    for (let i = 0; i < 2000; i++) {
      warmAudit.record(event(i));
      warmPino.info({ audit: event(i) });
    }

    // Each side three times, interleaved, so the machine's load falls on both alike.
    const memory = await interleaved({
      plain: async () => {
        const logger = createLogger({ name: "audit", destination: discard() });
        return {
          rate: perSecond(RECORDS, () => {
            for (let i = 0; i < RECORDS; i++) logger.info({ audit: event(i) });
          }),
        };
      },
      chained: async () => {
        const audit = createAuditLog({ destination: discard() });
        return {
          rate: perSecond(RECORDS, () => {
            for (let i = 0; i < RECORDS; i++) audit.record(event(i));
          }),
        };
      },
    });
    let runs = 0;
    let chainFile = "";
    const file = await interleaved({
      plain: async () => {
        const logger = createLogger({
          name: "audit",
          destination: pino.destination({ dest: join(dir, `plain-${runs++}.jsonl`), sync: true }),
        });
        return {
          rate: perSecond(RECORDS, () => {
            for (let i = 0; i < RECORDS; i++) logger.info({ audit: event(i) });
          }),
        };
      },
      chained: async () => {
        chainFile = join(dir, `audit-${runs++}.jsonl`);
        const audit = createAuditLog({ file: chainFile });
        return {
          rate: perSecond(RECORDS, () => {
            for (let i = 0; i < RECORDS; i++) audit.record(event(i));
          }),
        };
      },
    });
    const rates = (samples: Sample[]): number[] => samples.map((sample) => sample.rate!);
    const costs = (plain: Sample[], chained: Sample[]): number[] =>
      plain.map((sample, i) => sample.rate! / chained[i]!.rate!);
    const median = (values: number[]): number => spreadOf(values).median;
    const plainMemory = median(rates(memory.plain));
    const chainedMemory = median(rates(memory.chained));
    const plainToFile = median(rates(file.plain));
    const chainedToFile = median(rates(file.chained));

    const lines = readFileSync(chainFile, "utf8").split("\n");
    let verified = 0;
    const verifyRate = perSecond(RECORDS, () => {
      const result = verifyAuditChain(lines);
      verified = result.records;
    });
    if (verified !== RECORDS) throw new Error(`bench chain did not verify (${verified}/${RECORDS})`);

    const resumeStart = process.hrtime.bigint();
    createAuditLog({ file: chainFile, destination: discard() }).record(event(0));
    const resumeMs = Number(process.hrtime.bigint() - resumeStart) / 1e6;

    return [
      {
        name: "plain pino, discarding stream",
        value: plainMemory,
        unit: `records/s (${spreadNote(rates(memory.plain))})`,
      },
      {
        name: "audit chain (redact+hash+pino), discarding stream",
        value: chainedMemory,
        unit: `records/s (${spreadNote(rates(memory.chained))})`,
      },
      {
        name: "chain cost vs plain pino (CPU)",
        value: Number(median(costs(memory.plain, memory.chained)).toFixed(2)),
        unit: `x (${spreadNote(costs(memory.plain, memory.chained))})`,
      },
      {
        name: "plain pino, sync file",
        value: plainToFile,
        unit: `records/s (${spreadNote(rates(file.plain))})`,
      },
      {
        name: "audit chain, sync file",
        value: chainedToFile,
        unit: `records/s (${spreadNote(rates(file.chained))})`,
      },
      {
        name: "chain cost vs plain pino (file)",
        value: Number(median(costs(file.plain, file.chained)).toFixed(2)),
        unit: `x (${spreadNote(costs(file.plain, file.chained))})`,
      },
      { name: "audit verify", value: verifyRate, unit: "records/s" },
      { name: `resume a ${RECORDS}-record file and append`, value: Number(resumeMs.toFixed(2)), unit: "ms" },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  for (const line of await run())
    console.log(`${line.name.padEnd(52)} ${String(line.value).padStart(10)} ${line.unit}`);
}
