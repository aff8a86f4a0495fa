import { writeFile, mkdtemp } from "node:fs/promises";
import { createServer } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pauseWrites, resumeWrites, writePauseStatus } from "../../core/observability/anomaly.ts";
import { ASSERTION_HEADER, createCallerVerifier, signAssertion } from "../../core/identity/caller-auth.ts";
import { generateKeys } from "../../core/identity/keys.ts";
import { loadOpenBaoRoles } from "../../core/identity/openbao-roles.ts";
import { isDeputyError } from "../../core/errors.ts";
import { resultDigest, type Effect } from "../../core/actions/effect.ts";
import { createActionStore, type ActionStore } from "../../core/actions/store.ts";
import { createApprovalExecutor } from "../../executor/approval-executor.ts";
import { createExecutorClient } from "../../executor/client.ts";
import { createCredentialBroker, type CredentialBroker } from "../../executor/credential-broker.ts";
import { startExecutorHttpServer, type ExecutorHttpServer } from "../../executor/http.ts";
import { createOpenBaoClient } from "../../executor/openbao-client.ts";
import { eventually } from "../helpers/testenv.ts";
import { alice, bob, capture, connectRedis, draft, dropPrefix, testPrefix, testSigner } from "./support.ts";

/**
 * What the API server would answer to draft()'s scale of shop/frontend from 2
 * to 3 (these tests have no cluster). An action whose type sends a request is
 * approvable only with the dry-run answer it was proposed with; without one
 * the executor refuses it before asking OpenBao for anything.
 */
function scaleEffect(): Effect {
  const deployment = (replicas: number): Record<string, unknown> => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "frontend", namespace: "shop", uid: "u-1" },
    spec: { replicas },
  });
  const result = deployment(3);
  return {
    object: { kind: "Deployment", namespace: "shop", name: "frontend" },
    live: deployment(2),
    result,
    warnings: [],
    digest: resultDigest(result, { created: false }),
  };
}

/** An action as proposed, with its dry-run answer: approving it reaches for a credential. */
const approvable = (overrides: Parameters<typeof draft>[0] = {}) =>
  draft({ requester: alice, effect: scaleEffect(), ...overrides });

/**
 * The decision endpoint and its client, on a real executor and real Redis.
 * OpenBao here is an address nothing listens on: approvals must end in a clear
 * failed state after bounded, jittered retries, and nothing runs.
 */
describe("executor HTTP endpoint and client", () => {
  let redis: Redis;
  let prefix: string;
  let store: ActionStore;
  let broker: CredentialBroker;
  let server: ExecutorHttpServer;
  const captured = capture();
  const keys = generateKeys(["executorCaller"]);
  const signed = (url: string) => createExecutorClient({ url, key: keys.executorCaller! });

  /** A broker whose OpenBao is at `addr`, logging in with a JWT from a file. */
  async function brokerAt(addr: string, timeoutMs: number): Promise<CredentialBroker> {
    const dir = await mkdtemp(join(tmpdir(), "deputy-jwt-"));
    await writeFile(join(dir, "token"), "header.payload.signature");
    return createCredentialBroker({
      openbao: createOpenBaoClient({ addr, timeoutMs }),
      logger: captured.logger,
      authMount: "kubernetes",
      authRole: "deputy-executor",
      secretsMount: "kubernetes",
      jwtPath: join(dir, "token"),
      retry: { attempts: 3, baseMs: 10, capMs: 40 },
    });
  }

  /** The executor these tests decide through, over `using` (and any settings of its own). */
  function executorOver(
    using: CredentialBroker,
    extra: Partial<Parameters<typeof createApprovalExecutor>[0]> = {},
  ): ReturnType<typeof createApprovalExecutor> {
    return createApprovalExecutor({
      store,
      broker: using,
      roles: loadOpenBaoRoles(),
      cluster: { server: "https://127.0.0.1:9", caPem: undefined },
      audit: captured.audit,
      logger: captured.logger,
      approvers: { slackUserIds: [bob.id], localApproverIds: [] },
      twoPersonRule: { normal: true, high: true },
      protectedNamespaces: ["kube-system"],
      clusterName: "test",
      ...extra,
    });
  }

  beforeAll(async () => {
    redis = connectRedis();
    prefix = testPrefix("http");
    store = createActionStore(redis, { prefix, ttlSeconds: 900, signer: testSigner() });
    broker = await brokerAt("http://127.0.0.1:9", 500);
    const executor = executorOver(broker);
    server = await startExecutorHttpServer({
      executor,
      logger: captured.logger,
      audit: captured.audit,
      callers: createCallerVerifier({ key: keys.executorCaller!, purpose: "executor", redis, prefix }),
      host: "127.0.0.1",
      port: 0,
    });
  });

  afterAll(async () => {
    await server.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it("decides through the client exactly as in process", async () => {
    const client = signed(server.url);
    const action = await store.create(draft());
    const rejected = await client.decide({ actionId: action.id, approver: bob, decision: "reject" });
    expect(rejected).toMatchObject({
      status: "rejected",
      action: { id: action.id, state: "rejected", decidedBy: bob },
    });
    const again = await client.decide({
      actionId: action.id,
      digest: action.digest,
      approver: bob,
      decision: "approve",
    });
    expect(again.status).toBe("not_pending");
    const unknown = await client.decide({
      actionId: "act_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
      approver: bob,
      decision: "approve",
    });
    expect(unknown).toMatchObject({ status: "refused", rule: "unknown-action" });
    const invalid = await client.decide({ actionId: action.id, approver: bob, decision: "maybe" as never });
    expect(invalid).toMatchObject({ status: "refused", rule: "invalid-request" });
  });

  it("ends an approval in a clear failed state when OpenBao cannot be reached, after bounded retries", async () => {
    const client = signed(server.url);
    const action = await store.create(approvable());
    const started = Date.now();
    const result = await client.decide({
      actionId: action.id,
      digest: action.digest,
      approver: bob,
      decision: "approve",
    });
    expect(result.status).toBe("failed");
    expect(result.message).toMatch(
      /^No just-in-time credential could be obtained from OpenBao \(OpenBao auth\/kubernetes\/login answered nothing \(unreachable\)\); nothing was done\.$/,
    );
    expect(result.action?.state).toBe("failed");
    expect(result.action?.outcome?.leaseId).toBeUndefined();
    expect(broker.stats()).toMatchObject({ logins: 3, minted: 0 });
    expect(Date.now() - started).toBeLessThan(5_000);
    // It began, but never reached the cluster: nothing was executed.
    expect(await store.executions(action.id)).toBe(0);
  });

  it("answers 401 to a forged decision, audits it, and decides nothing", async () => {
    const action = await store.create(draft({ requester: alice }));
    const forged = JSON.stringify({
      actionId: action.id,
      approver: { kind: "local", id: "bob" },
      decision: "reject",
    });
    const post = (headers: Record<string, string>) =>
      fetch(`${server.url}/v1/decisions`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: forged,
      });
    const unsigned = await post({});
    expect(unsigned.status).toBe(401);
    expect(await unsigned.text()).toMatch(/Unauthenticated: no x-deputy-assertion header/);
    const wrongKey = signAssertion(generateKeys(["executorCaller"]).executorCaller!, "executor", {
      method: "POST",
      path: "/v1/decisions",
      body: forged,
    });
    expect((await post({ [ASSERTION_HEADER]: wrongKey })).status).toBe(401);
    // A valid signature for the MCP server's purpose is not one for the executor.
    const otherPurpose = signAssertion(keys.executorCaller!, "mcp", {
      method: "POST",
      path: "/v1/decisions",
      body: forged,
    });
    expect((await post({ [ASSERTION_HEADER]: otherPurpose })).status).toBe(401);
    expect((await store.get(action.id))?.state).toBe("pending");
    expect(
      captured.records.filter((r) => r.rule === "caller-unauthenticated" && r.decision === "refused"),
    ).toHaveLength(3);
  });

  it("refuses a local-mode identity even from the authenticated bot: this is not local mode", async () => {
    const action = await store.create(draft({ requester: alice }));
    const result = await signed(server.url).decide({
      actionId: action.id,
      approver: { kind: "local", id: "bob" },
      decision: "reject",
    });
    expect(result).toMatchObject({ status: "refused", rule: "local-identity-refused" });
    expect(result.message).toMatch(/accepted only by Deputy's local mode/);
    expect((await store.get(action.id))?.state).toBe("pending");
  });

  it("answers protocol errors with the right status", async () => {
    const post = (body: string, type = "application/json") =>
      fetch(`${server.url}/v1/decisions`, {
        method: "POST",
        headers: {
          "content-type": type,
          [ASSERTION_HEADER]: signAssertion(keys.executorCaller!, "executor", {
            method: "POST",
            path: "/v1/decisions",
            body,
          }),
        },
        body,
      });
    expect((await post("{not json")).status).toBe(400);
    expect((await post("{}", "text/plain")).status).toBe(415);
    expect((await post(JSON.stringify({ pad: "x".repeat(20_000) }))).status).toBe(413);
    const invalid = await post(JSON.stringify({ actionId: 1 }));
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ status: "refused", rule: "invalid-request" });
    expect((await fetch(`${server.url}/v1/decisions`)).status).toBe(405);
    expect((await fetch(`${server.url}/v1/approve-everything`, { method: "POST" })).status).toBe(404);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it("reports an unreachable executor as an error, never as a decision", async () => {
    const client = createExecutorClient({
      url: "http://127.0.0.1:9",
      key: keys.executorCaller!,
      timeoutMs: 1000,
    });
    const error = await client
      .decide({ actionId: "act_CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC", approver: bob, decision: "approve" })
      .catch((e: unknown) => e);
    expect(isDeputyError(error, "UPSTREAM_FAILED")).toBe(true);
  });

  it("refuses approvals while the anomaly detector has paused writes, but still takes rejections", async () => {
    const paused = executorOver(broker, { writePause: () => writePauseStatus(redis, prefix) });
    await pauseWrites(redis, { rule: "delete-burst", reason: "7 deletes in a minute" }, prefix);
    const action = await store.create(draft());
    const minted = broker.stats().logins;
    const refused = await paused.decide({
      actionId: action.id,
      digest: action.digest,
      approver: bob,
      decision: "approve",
    });
    expect(refused).toMatchObject({ status: "refused", rule: "writes-paused" });
    expect(refused.message).toMatch(
      /^New write approvals are paused \(delete-burst: 7 deletes in a minute\)/,
    );
    expect(broker.stats().logins).toBe(minted);
    expect((await paused.decide({ actionId: action.id, approver: bob, decision: "reject" })).status).toBe(
      "rejected",
    );
    await resumeWrites(redis, prefix);
  });

  it("when the bot stops waiting for a long action, says it timed out and sends the result to the thread", async () => {
    const notices: { actionId: string; state: string; text: string }[] = [];
    // A run that outlasts the client's patience: the credential takes 2.5 s to be refused.
    const slow: CredentialBroker = {
      withCredential: async () => {
        await new Promise((resolve) => setTimeout(resolve, 2500));
        throw new Error("OpenBao took too long");
      },
      revokeLease: () => Promise.resolve(),
      stats: () => broker.stats(),
    };
    const patient = await startExecutorHttpServer({
      executor: executorOver(slow),
      logger: captured.logger,
      audit: captured.audit,
      callers: createCallerVerifier({ key: keys.executorCaller!, purpose: "executor", redis, prefix }),
      host: "127.0.0.1",
      port: 0,
      notify: async (action, text) => void notices.push({ actionId: action.id, state: action.state, text }),
    });
    try {
      const client = createExecutorClient({ url: patient.url, key: keys.executorCaller!, timeoutMs: 1000 });
      const action = await store.create(approvable());
      const lost = await client
        .decide({ actionId: action.id, digest: action.digest, approver: bob, decision: "approve" })
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(String(lost)).toContain("the executor did not answer within 1 s");
      // What the bot reads back: the action is running, not "nothing was decided".
      expect((await store.get(action.id))?.state).toBe("executing");
      await eventually("the result queued for the thread", async () => notices.length === 1, {
        timeoutMs: 10_000,
      });
      expect(notices[0]).toMatchObject({ actionId: action.id, state: "failed" });
      expect(notices[0]!.text).toContain("OpenBao took too long");
    } finally {
      await patient.close();
    }
  });

  it("on close takes no new decision, even on an open connection, and answers the one already running", async () => {
    // An OpenBao that never answers: an approval stays running through its bounded retries.
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const executor = executorOver(
      await brokerAt(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`, 400),
    );
    const stopping = await startExecutorHttpServer({
      executor,
      logger: captured.logger,
      audit: captured.audit,
      callers: createCallerVerifier({ key: keys.executorCaller!, purpose: "executor", redis, prefix }),
      host: "127.0.0.1",
      port: 0,
    });
    try {
      const taken = await store.create(approvable());
      const late = await store.create(approvable());
      const decided = signed(stopping.url).decide({
        actionId: taken.id,
        digest: taken.digest,
        approver: bob,
        decision: "approve",
      });
      // A second caller has begun its request on an open connection when the server starts closing.
      const { port } = new URL(stopping.url);
      const socket = connect(Number(port), "127.0.0.1");
      let answer = "";
      socket.on("data", (chunk: Buffer) => (answer += chunk.toString()));
      const ended = new Promise<void>((resolve) => socket.on("close", () => resolve()));
      await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
      socket.write(`POST /v1/decisions HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n`);
      await eventually(
        "the approval to be running",
        async () => (await store.get(taken.id))?.state === "executing",
        {
          intervalMs: 20,
        },
      );
      const closed = stopping.close();
      expect(stopping.running).toBe(1);
      const body = JSON.stringify({
        actionId: late.id,
        digest: late.digest,
        approver: bob,
        decision: "approve",
      });
      const assertion = signAssertion(keys.executorCaller!, "executor", {
        method: "POST",
        path: "/v1/decisions",
        body,
      });
      socket.end(
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${ASSERTION_HEADER}: ${assertion}\r\n\r\n${body}`,
      );
      await ended;
      expect(answer).toMatch(/^HTTP\/1\.1 503 /);
      expect(answer.toLowerCase()).toContain("connection: close");
      expect(answer).toContain("nothing was decided");
      expect((await store.get(late.id))?.state).toBe("pending");

      // The approval taken before closing ran to its end, was recorded, and its caller has the answer.
      const result = await decided;
      expect(result.status, result.message).toBe("failed");
      expect(result.action?.state).toBe("failed");
      await closed;
      expect(stopping.running).toBe(0);
      await expect(fetch(`${stopping.url}/healthz`)).rejects.toThrow();
    } finally {
      await stopping.close();
      const silentClosed = new Promise<void>((resolve) => silent.close(() => resolve()));
      silent.closeAllConnections();
      await silentClosed;
    }
  });
});
