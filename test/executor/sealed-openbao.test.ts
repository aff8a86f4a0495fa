import { randomBytes } from "node:crypto";
import { CoreV1Api } from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Alert } from "../../core/observability/alerts.ts";
import { createAnomalyDetector } from "../../core/observability/anomaly.ts";
import type { PendingActionRef } from "../../core/actions/schema.ts";
import { createActionStore, type ActionStore } from "../../core/actions/store.ts";
import { createAuditLog, type AuditRecord } from "../../core/audit/log.ts";
import { createLogger } from "../../core/observability/logger.ts";
import { createApprovalExecutor, type ApprovalExecutor } from "../../executor/approval-executor.ts";
import { createCredentialBroker, type JitCredential } from "../../executor/credential-broker.ts";
import { createOpenBaoClient } from "../../executor/openbao-client.ts";
import { adminKubeConfig, eventually, loadTestEnv } from "../helpers/testenv.ts";
import { startHarness, type Harness } from "../mcp/harness.ts";
import { alice, bob, connectRedis, dropPrefix, testPrefix, testSigner } from "./support.ts";
import { ensure } from "../helpers/kube-apply.ts";
import { prepareWriteEnv, type WriteEnv } from "./write-env.ts";

/**
 * OpenBao sealed while an action runs: its lease cannot be revoked. The
 * message says the true bound (the generated account stays until revoked,
 * its Kubernetes token until its own expiry, never under 600 s), an anomaly
 * alert names the lease and the account, and revocation is retried until it
 * succeeds, with an alert when it did. OpenBao is the shared dev server; its
 * seal is played by the executor's own OpenBao client answering 503
 * "Vault is sealed" for every call after the credential was minted.
 */
const RUN = randomBytes(3).toString("hex");
const NODE = `deputy-test-node-sealed-${RUN}`;

describe("OpenBao sealed mid-action", () => {
  let env: WriteEnv;
  let harness: Harness;
  let redis: Redis;
  let prefix: string;
  let store: ActionStore;
  let executor: ApprovalExecutor;
  let sealed = false;
  const minted: JitCredential[] = [];
  const records: AuditRecord[] = [];
  const alerts: Alert[] = [];
  const core = () => adminKubeConfig().makeApiClient(CoreV1Api);

  beforeAll(async () => {
    env = await prepareWriteEnv();
    redis = connectRedis();
    prefix = testPrefix("sealed");
    harness = await startHarness({
      env: { DEPUTY_REDIS_PREFIX: prefix, DEPUTY_RATE_LIMIT_USER_PER_MINUTE: "1000" },
    });
    store = createActionStore(redis, { prefix, ttlSeconds: 900, signer: testSigner() });
    const logger = createLogger({ level: "silent" });
    const detector = createAnomalyDetector({
      redis,
      prefix,
      thresholds: { deletesPerWindow: 100, denialsPerWindow: 100, protectedNamespaces: ["kube-system"] },
      sink: { postAlert: async (alert) => void alerts.push(alert) },
      logger,
    });
    const audit = createAuditLog({
      destination: { write: () => true } as never,
      onRecord: [(record) => records.push(record), detector.observer],
    });
    const sealable: typeof fetch = (input, init) =>
      sealed
        ? Promise.resolve(
            new Response(JSON.stringify({ errors: ["Vault is sealed"] }), {
              status: 503,
              headers: { "content-type": "application/json" },
            }),
          )
        : fetch(input, init);
    executor = createApprovalExecutor({
      store,
      broker: createCredentialBroker({
        openbao: createOpenBaoClient({ addr: loadTestEnv().baoAddr, fetch: sealable }),
        logger,
        authMount: env.authMount,
        authRole: env.authRole,
        secretsMount: env.secretsMount,
        jwtPath: env.jwtPath,
        retry: { attempts: 2, baseMs: 10, capMs: 20 },
        // Sealed right after the mint: the action runs, its lease cannot be revoked.
        onCredential: (credential) => {
          minted.push({ ...credential });
          sealed = true;
        },
      }),
      roles: env.roles,
      cluster: env.cluster,
      audit,
      logger,
      approvers: { slackUserIds: [bob.id], localApproverIds: [] },
      twoPersonRule: { normal: true, high: true },
      protectedNamespaces: ["kube-system"],
      clusterName: "testenv",
    });
    await ensure(adminKubeConfig(), { apiVersion: "v1", kind: "Node", metadata: { name: NODE } });
  });

  afterAll(async () => {
    sealed = false;
    await harness?.close();
    await core()
      .deleteNode({ name: NODE })
      .catch(() => undefined);
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it("says the true bound, alerts naming the lease and account, and revokes it once OpenBao is back", async () => {
    const reply = await harness.call("cordon_node", { name: NODE }, { "deputy/requester": alice });
    const { id, digest } = reply.structured?.pendingAction as PendingActionRef;
    const result = await executor.decide({ actionId: id, digest, approver: bob, decision: "approve" });
    expect(result.status, result.message).toBe("succeeded");
    expect((await core().readNode({ name: NODE })).spec?.unschedulable).toBe(true);

    const credential = minted.at(-1)!;
    const account = `${credential.namespace}/${credential.serviceAccountName}`;
    const leaseId = result.action?.outcome?.leaseId;
    expect(leaseId).toBe(credential.leaseId);
    expect(result.message).toContain(`Warning: lease ${leaseId} could not be revoked (`);
    expect(result.message).toContain("Vault is sealed");
    expect(result.message).toContain(`service account ${account} keeps this action's permissions`);
    expect(result.message).not.toMatch(/within 60 s/);
    const until = /stays valid until (\S+) \(Kubernetes issues no token for less than 600 s\)/.exec(
      result.message,
    );
    expect(until, result.message).not.toBeNull();
    // The true bound: the Kubernetes token's own expiry, ten minutes or more away.
    expect(Date.parse(until![1]!) - Date.now()).toBeGreaterThan(590_000);
    expect(result.message).toContain("Revocation is retried until it succeeds");

    // The account really is still there, and the alert names it and the lease.
    await core().readNamespacedServiceAccount({
      name: credential.serviceAccountName,
      namespace: credential.namespace,
    });
    await eventually("the unrevoked-lease alert", async () =>
      alerts.find((alert) => alert.rule === "lease-unrevoked"),
    );
    const raised = alerts.find((alert) => alert.rule === "lease-unrevoked")!;
    expect(raised.text).toContain(leaseId!);
    expect(raised.text).toContain(account);
    expect((await store.unrevokedLeases()).map((lease) => lease.leaseId)).toEqual([leaseId]);

    // Still sealed: the retry fails quietly and keeps the lease.
    await executor.reconcile();
    expect((await store.unrevokedLeases()).map((lease) => lease.leaseId)).toEqual([leaseId]);
    expect(alerts.some((alert) => alert.rule === "lease-revoked")).toBe(false);

    // Unsealed: the next upkeep round revokes it, the account goes, and an alert says so.
    sealed = false;
    await executor.reconcile();
    expect(await store.unrevokedLeases()).toEqual([]);
    await eventually("the generated account deleted", () =>
      core()
        .readNamespacedServiceAccount({
          name: credential.serviceAccountName,
          namespace: credential.namespace,
        })
        .then(
          () => false,
          () => true,
        ),
    );
    await eventually("the revoked-lease alert", async () =>
      alerts.find((alert) => alert.rule === "lease-revoked"),
    );
    const revoked = alerts.find((alert) => alert.rule === "lease-revoked")!;
    expect(revoked.text).toContain(`Lease ${leaseId} (service account ${account}) was revoked at `);
    expect(
      records.some((r) => r.kind === "anomaly" && r.rule === "lease-revoked-late" && r.leaseId === leaseId),
    ).toBe(true);
  });
});
