import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppsV1Api } from "@kubernetes/client-node";
import { webApi } from "@slack/bolt";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUserGroupChecker } from "../../../bot/approvers.ts";
import type { DeputyKeys } from "../../../core/identity/keys.ts";
import type { Identity } from "../../../core/identity/identity.ts";
import type { PendingActionRef } from "../../../core/actions/schema.ts";
import type { ApprovalDecider } from "../../../executor/approval-executor.ts";
import { createExecutorClient } from "../../../executor/client.ts";
import { startSlackFake, type SlackFake } from "../../fakes/slack.ts";
import { ensureKeysInOpenBao, TEST_KEYS_PATH } from "../../helpers/deputy-keys.ts";
import { freshDeployment } from "../../helpers/deployments.ts";
import { adminKubeConfig, loadTestEnv } from "../../helpers/testenv.ts";
import { startHarness, type Harness } from "../../mcp/harness.ts";
import { dropPrefix } from "../../executor/support.ts";
import { prepareWriteEnv, type WriteEnv } from "../../executor/write-env.ts";
import {
  executorProcessEnv,
  runDeputy,
  startExecutorProcess,
  type ExecutorProcess,
} from "./executor-process.ts";

/**
 * `deputy executor` with an approval policy file, as its own process: a
 * broken policy stops it at start-up with the file, the line and the reason;
 * a good one is logged with its hash. Decisions arrive as the bot sends
 * them, signed, vouching for which of the policy's user groups the approver
 * and the requester are in at the click; `deputy policy explain` reads the
 * same stored action and says which rule applies and why.
 */
const NS = "deputy-w-exec";
const NAME = `policy-${randomBytes(3).toString("hex")}`;
const SRE = "S0SRE";
const ONCALL = "S0ONCALL";
const person = (name: string): Identity => ({
  kind: "slack",
  id: `U0${name.toUpperCase()}`,
  teamId: "T0FAKE",
  name,
});
const alice = person("alice");
const bob = person("bob");
const carol = person("carol");
const dave = person("dave");
const grace = person("grace");

const POLICY = `version: 1
timeZone: UTC
groups:
  sre: ${SRE}
  oncall: ${ONCALL}
rules:
  - name: two SREs scale
    when: action.tool == "scale_deployment"
    approve:
      groups: [sre]
      count: 2
  - name: on-call
    when: "true"
    approve:
      groups: [oncall]
`;

const prefix = `deputy-test-policy-exec-${randomBytes(4).toString("hex")}:`;
const dir = mkdtempSync(join(tmpdir(), "deputy-policy-exec-"));
const policyFile = join(dir, "approval-policy.yaml");
let env: WriteEnv;
let keys: DeputyKeys;
let slack: SlackFake;
let harness: Harness;
let redis: Redis;
let executor: ExecutorProcess | undefined;
let url = "";

function executorEnv(extra: Record<string, string> = {}): Record<string, string> {
  return executorProcessEnv(env, prefix, {
    DEPUTY_KEYS_FROM_OPENBAO: TEST_KEYS_PATH,
    DEPUTY_APPROVAL_POLICY: policyFile,
    LOG_LEVEL: "info",
    ...extra,
  });
}

const runCli = (
  args: string[],
  extra: Record<string, string>,
): Promise<{ code: number | null; out: string }> => runDeputy(args, executorEnv(extra));

async function propose(tool: string, args: Record<string, unknown>): Promise<PendingActionRef> {
  const reply = await harness.call(tool, args, {
    "deputy/requester": alice,
    "deputy/conversation": { surface: "slack", channel: "C0OPS", thread: "1700000000.000100" },
    "deputy/reason": "policy",
  });
  expect(reply.isError, reply.text).toBe(false);
  return reply.structured?.pendingAction as PendingActionRef;
}

/** The bot's side: signed requests vouching, at each click, for the policy's groups as Slack lists them now. */
function botClient(): ApprovalDecider {
  const web = new webApi.WebClient(slack.botToken, { slackApiUrl: `${slack.apiUrl.replace(/\/$/, "")}/` });
  return createExecutorClient({
    url,
    key: keys.executorCaller!,
    policyGroups: {
      ids: [SRE, ONCALL],
      isMember: (identity, group) => createUserGroupChecker(web, group, 0)(identity),
      requesterOf: async (actionId) => (await harness.deps.actions.get(actionId))?.requester,
    },
  });
}

beforeAll(async () => {
  env = await prepareWriteEnv();
  keys = await ensureKeysInOpenBao();
  redis = new Redis(loadTestEnv().redisUrl);
  slack = await startSlackFake({ userGroups: { [SRE]: [alice.id, bob.id, carol.id], [ONCALL]: [dave.id] } });
  harness = await startHarness({ env: { DEPUTY_REDIS_PREFIX: prefix }, actionKey: keys.action! });
  await freshDeployment(NS, NAME);
  writeFileSync(policyFile, POLICY);
  executor = await startExecutorProcess(executorEnv());
  url = executor.url;
}, 120_000);

afterAll(async () => {
  executor?.child.kill("SIGTERM");
  await adminKubeConfig()
    .makeApiClient(AppsV1Api)
    .deleteNamespacedDeployment({ name: NAME, namespace: NS })
    .catch(() => undefined);
  await harness?.close();
  await slack?.close();
  if (redis) {
    await dropPrefix(redis, prefix);
    redis.disconnect();
  }
});

describe("deputy executor with an approval policy file", () => {
  it("a broken policy stops start-up with a sentence naming the file, the line and the reason", async () => {
    const broken = join(dir, "broken.yaml");
    writeFileSync(
      broken,
      "version: 1\nrules:\n  - name: ok\n    when: 'true'\n    approve: { users: [U0BOB] }\n  - name: typo\n    when: action.namespce == 'shop'\n    refuse: no\n",
    );
    const started = Date.now();
    const { code, out } = await runCli(["executor", "--port", "0"], { DEPUTY_APPROVAL_POLICY: broken });
    expect(code).toBe(1);
    expect(out).toContain(
      `deputy: CONFIG_INVALID: The approval policy is invalid: ${broken}:7: rule "typo": when does not type-check: No such key: namespce`,
    );
    expect(out).not.toContain("decisions at");
    expect(Date.now() - started).toBeLessThan(20_000);
  }, 30_000);

  it("logs the policy's hash at start-up", () => {
    expect(executor!.output()).toMatch(
      new RegExp(`approval policy ${policyFile} \\(sha256 [0-9a-f]{12}, 2 rules\\)`),
    );
  });

  it("two of two over HTTP: the first approval answers where it stands, the second runs it", async () => {
    const action = await propose("scale_deployment", { namespace: NS, name: NAME, replicas: 2 });
    const bot = botClient();
    const first = await bot.decide({
      actionId: action.id,
      digest: action.digest,
      approver: bob,
      decision: "approve",
    });
    expect(first.status, first.message).toBe("awaiting");
    expect(first).toMatchObject({
      approval: { rule: "two SREs scale", required: 2, approvals: [expect.objectContaining({ id: bob.id })] },
    });
    const live = () =>
      adminKubeConfig().makeApiClient(AppsV1Api).readNamespacedDeployment({ name: NAME, namespace: NS });
    expect((await live()).spec?.replicas).toBe(1);
    const second = await bot.decide({
      actionId: action.id,
      digest: action.digest,
      approver: carol,
      decision: "approve",
    });
    expect(second.status, second.message).toBe("succeeded");
    expect((await live()).spec?.replicas).toBe(2);
    expect(await harness.deps.actions.executions(action.id)).toBe(1);
  });

  it("the on-call group changes between proposal and click: the bot vouches for the group at the click", async () => {
    const action = await propose("restart_deployment", { namespace: NS, name: NAME });
    slack.userGroups[ONCALL] = [grace.id];
    try {
      const bot = botClient();
      const old = await bot.decide({
        actionId: action.id,
        digest: action.digest,
        approver: dave,
        decision: "approve",
      });
      expect(old).toMatchObject({ status: "refused", rule: "approver-not-authorised" });
      const current = await bot.decide({
        actionId: action.id,
        digest: action.digest,
        approver: grace,
        decision: "approve",
      });
      expect(current.status, current.message).toBe("succeeded");
    } finally {
      slack.userGroups[ONCALL] = [dave.id];
    }
  });

  it("deputy policy explain says which rule applies to a stored action, and why", async () => {
    const action = await propose("scale_deployment", { namespace: NS, name: NAME, replicas: 3 });
    const { code, out } = await runCli(["policy", "explain", action.id], { LOG_LEVEL: "warn" });
    expect(code, out).toBe(0);
    expect(out).toContain(
      `Action ${action.id}: scale_deployment on Deployment ${NS}/${NAME} in cluster testenv`,
    );
    expect(out).toMatch(/MATCH {2}two SREs scale \(line 7\): action\.tool == "scale_deployment"/);
    expect(out).toContain('Rule "two SREs scale": approve: 2 of sre (S0SRE); never the requester');
  });
});
