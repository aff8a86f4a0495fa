import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { canonicalJson } from "../audit/log.ts";
import type { Proposal } from "./schema.ts";

/**
 * Two checks over a stored proposal, for two readers:
 *
 * - The digest is what a person can compare: sha256 over everything that
 *   decides what runs and who may decide it (cluster, tool, typed arguments,
 *   target uid and resourceVersion, the API server's dry-run result,
 *   requester, risk, expiry). The card shows
 *   its first characters and the button carries it whole, so a click approves
 *   that content and nothing else.
 * - The MAC is what Redis cannot forge: HMAC-SHA256 over the whole proposal
 *   under a key the Redis user cannot read. A document whose MAC fails is
 *   refused as tampering, whatever its digest says.
 */

export type DigestParts = Pick<
  Proposal,
  "cluster" | "tool" | "arguments" | "target" | "requester" | "risk" | "expiresAt" | "effect"
>;

export function actionDigest(parts: DigestParts): string {
  return createHash("sha256")
    .update(
      canonicalJson({
        cluster: parts.cluster,
        tool: parts.tool,
        arguments: parts.arguments,
        target: parts.target,
        // The API server's answer the approver sees and the run is bound to.
        ...(parts.effect ? { result: parts.effect.digest, warnings: parts.effect.warnings } : {}),
        // Who asked decides who may approve (two-person rule): the id is the person.
        requester: { kind: parts.requester.kind, id: parts.requester.id },
        risk: parts.risk,
        expiresAt: parts.expiresAt,
      }),
    )
    .digest("hex");
}

/** The short form a person reads on the card and compares with the confirm dialog. */
export function shortDigest(digest: string): string {
  return digest.slice(0, 12);
}

/**
 * Signs a proposal, and the records written about it later (the decision, the
 * start of its run, its outcome) under the same key with another label, so
 * that a Redis writer can forge neither who decided nor what became of it.
 * A key shorter than 32 bytes is refused so a typo cannot weaken it.
 */
export interface ActionSigner {
  mac(proposal: Proposal): string;
  verify(proposal: Proposal, mac: string): boolean;
  /** MAC of a record about the action of `cluster` (a flat object of strings). */
  macRecord(cluster: string, record: Readonly<Record<string, string>>): string;
  verifyRecord(cluster: string, record: Readonly<Record<string, string>>, mac: string): boolean;
}

/**
 * Stored actions of several clusters, each signed with its own cluster's
 * action key: the key is chosen by the cluster the proposal names, so a
 * proposal one cluster's MCP server signs for another cluster never verifies.
 */
export function createClusterActionSigner(keys: ReadonlyMap<string, Buffer>): ActionSigner {
  const signers = new Map([...keys].map(([cluster, key]) => [cluster, createActionSigner(key)]));
  return {
    mac(proposal) {
      const signer = signers.get(proposal.cluster);
      if (!signer) throw new Error(`no action key for cluster ${proposal.cluster}`);
      return signer.mac(proposal);
    },
    verify(proposal, given) {
      return signers.get(proposal.cluster)?.verify(proposal, given) ?? false;
    },
    macRecord(cluster, record) {
      const signer = signers.get(cluster);
      if (!signer) throw new Error(`no action key for cluster ${cluster}`);
      return signer.macRecord(cluster, record);
    },
    verifyRecord(cluster, record, given) {
      return signers.get(cluster)?.verifyRecord(cluster, record, given) ?? false;
    },
  };
}

export function createActionSigner(key: Buffer): ActionSigner {
  if (key.length < 32) throw new Error("the action MAC key must be at least 32 bytes");
  const mac = (proposal: Proposal): string =>
    createHmac("sha256", key).update("deputy-action-v1\n").update(canonicalJson(proposal)).digest("hex");
  // Another label than the proposal's, so a record's MAC can never pass for a proposal's.
  const macRecord = (_cluster: string, record: Readonly<Record<string, string>>): string =>
    createHmac("sha256", key).update("deputy-action-record-v1\n").update(canonicalJson(record)).digest("hex");
  const same = (expectedHex: string, given: string): boolean => {
    const expected = Buffer.from(expectedHex, "hex");
    const actual = Buffer.from(given, "hex");
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  };
  return {
    mac,
    verify: (proposal, given) => same(mac(proposal), given),
    macRecord,
    verifyRecord: (cluster, record, given) => same(macRecord(cluster, record), given),
  };
}
