import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadOpenBaoRoles } from "../../core/identity/openbao-roles.ts";
import { createActionStore, type ActionStore } from "../../core/actions/store.ts";
import { createApprovalExecutor, type ApprovalExecutor } from "../../executor/approval-executor.ts";
import type { ApproverPolicy } from "../../executor/approvers.ts";
import { createCredentialBroker, type CredentialBroker } from "../../executor/credential-broker.ts";
import { createOpenBaoClient } from "../../executor/openbao-client.ts";
import {
  alice,
  bob,
  capture,
  connectRedis,
  draft,
  dropPrefix,
  mallory,
  testPrefix,
  testSigner,
} from "./support.ts";

/**
 * Who may decide, on a real executor and real Redis. OpenBao is an address
 * nothing listens on, so an approval that gets past every check ends "failed"
 * after a login attempt: the broker's login count says whether it tried to run.
 */
describe("approvers: one person per Slack user id, local identities only in local mode", () => {
  let redis: Redis;
  let prefix: string;
  let store: ActionStore;
  let broker: CredentialBroker;
  const captured = capture();

  const executorWith = (approvers: ApproverPolicy): ApprovalExecutor =>
    createApprovalExecutor({
      store,
      broker,
      roles: loadOpenBaoRoles(),
      cluster: { server: "https://127.0.0.1:9", caPem: undefined },
      audit: captured.audit,
      logger: captured.logger,
      approvers,
      twoPersonRule: { normal: true, high: true },
      protectedNamespaces: ["kube-system"],
      clusterName: "test",
    });

  beforeAll(async () => {
    redis = connectRedis();
    prefix = testPrefix("trust-approvers");
    store = createActionStore(redis, { prefix, ttlSeconds: 900, signer: testSigner() });
    const dir = await mkdtemp(join(tmpdir(), "deputy-jwt-"));
    await writeFile(join(dir, "token"), "header.payload.signature");
    broker = createCredentialBroker({
      openbao: createOpenBaoClient({ addr: "http://127.0.0.1:9", timeoutMs: 300 }),
      logger: captured.logger,
      authMount: "kubernetes",
      authRole: "deputy-executor",
      secretsMount: "kubernetes",
      jwtPath: join(dir, "token"),
      retry: { attempts: 1, baseMs: 1, capMs: 1 },
    });
  });

  afterAll(async () => {
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it("refuses a requester approving their own action with another team id in the payload", async () => {
    // alice is also an approver, listed by plain user id (as Enterprise Grid users are).
    const executor = executorWith({ slackUserIds: [alice.id, bob.id], localApproverIds: [] });
    const action = await store.create(draft({ requester: alice }));
    const logins = broker.stats().logins;
    const result = await executor.decide({
      actionId: action.id,
      approver: { ...alice, teamId: "T_OTHER_WORKSPACE" },
      decision: "approve",
    });
    expect(result).toMatchObject({ status: "refused", rule: "two-person-rule" });
    expect(broker.stats().logins).toBe(logins);
    expect((await store.get(action.id))?.state).toBe("pending");
  });

  it("matches a team-qualified approver entry by user id, from any team", async () => {
    const executor = executorWith({ slackUserIds: [`T1:${bob.id}`], localApproverIds: [] });
    const action = await store.create(draft({ requester: alice }));
    const result = await executor.decide({
      actionId: action.id,
      approver: { ...bob, teamId: "T2" },
      decision: "reject",
    });
    expect(result.status).toBe("rejected");
  });

  it("refuses local identities outside local mode, even one named as a local approver", async () => {
    const executor = executorWith({ slackUserIds: [bob.id], localApproverIds: ["bob"] });
    const action = await store.create(draft({ requester: alice }));
    for (const decision of ["approve", "reject"] as const) {
      const result = await executor.decide({
        actionId: action.id,
        approver: { kind: "local", id: "bob" },
        decision,
      });
      expect(result).toMatchObject({ status: "refused", rule: "local-identity-refused" });
      expect(result.message).toBe(
        "Local-mode identities (local:bob) are accepted only by Deputy's local mode; this executor decides for Slack users only. Nothing was done.",
      );
    }
    expect((await store.get(action.id))?.state).toBe("pending");
    expect(captured.records.filter((r) => r.rule === "local-identity-refused")).toHaveLength(2);
  });

  it("accepts local identities in local mode", async () => {
    const executor = executorWith({ slackUserIds: [], localApproverIds: ["bob"], localIdentities: true });
    const action = await store.create(draft({ requester: { kind: "local", id: "alice" } }));
    const result = await executor.decide({
      actionId: action.id,
      approver: { kind: "local", id: "bob" },
      decision: "reject",
    });
    expect(result.status).toBe("rejected");
  });

  it("honours the approver group from the caller's verified claims, and only for the configured group", async () => {
    const executor = executorWith({ slackUserIds: [], group: "S_ONCALL", localApproverIds: [] });
    const action = await store.create(draft({ requester: alice }));
    const other = await executor.decide(
      { actionId: action.id, approver: mallory, decision: "reject" },
      { verifiedApproverGroups: ["S_SOMETHING_ELSE"] },
    );
    expect(other).toMatchObject({ status: "refused", rule: "approver-not-authorised" });
    const none = await executor.decide({ actionId: action.id, approver: mallory, decision: "reject" });
    expect(none).toMatchObject({ status: "refused", rule: "approver-not-authorised" });
    const member = await executor.decide(
      { actionId: action.id, approver: mallory, decision: "reject" },
      { verifiedApproverGroups: ["S_ONCALL"] },
    );
    expect(member.status).toBe("rejected");
  });
});
