import { Redis } from "ioredis";
import { createActionSigner } from "../../../core/actions/digest.ts";
import { createActionStore } from "../../../core/actions/store.ts";
import { createAuditLog } from "../../../core/audit/log.ts";
import { createLogger } from "../../../core/observability/logger.ts";
import { createApprovalExecutor } from "../../../executor/approval-executor.ts";
import { createCredentialBroker } from "../../../executor/credential-broker.ts";
import { createOpenBaoClient } from "../../../executor/openbao-client.ts";
import { startExecutorUpkeep } from "../../../executor/upkeep.ts";
import { testRoles } from "../../executor/write-env.ts";

/**
 * A separate executor process for the crash tests: it approves one action
 * (as an authorised approver) and runs it with a real OpenBao credential,
 * sending heartbeats, until the test kills it. Everything comes from the
 * environment the test sets; it prints "decided <status>" if it lives.
 */
const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const redis = new Redis(env("REDIS_URL"), { maxRetriesPerRequest: 2 });
const logger = createLogger({ level: "silent" });
const store = createActionStore(redis, {
  prefix: env("PREFIX"),
  ttlSeconds: 900,
  signer: createActionSigner(Buffer.from(env("ACTION_KEY"), "base64")),
});
const executor = createApprovalExecutor({
  store,
  broker: createCredentialBroker({
    openbao: createOpenBaoClient({ addr: env("BAO_ADDR") }),
    logger,
    authMount: env("BAO_AUTH_MOUNT"),
    authRole: env("BAO_AUTH_ROLE"),
    secretsMount: env("BAO_SECRETS_MOUNT"),
    jwtPath: env("BAO_JWT_PATH"),
  }),
  roles: testRoles(),
  cluster: { server: env("KUBE_SERVER"), caPem: env("KUBE_CA") },
  audit: createAuditLog({ destination: { write: () => true } as never }),
  logger,
  approvers: { slackUserIds: [env("APPROVER")], localApproverIds: [] },
  twoPersonRule: { normal: true, high: true },
  protectedNamespaces: ["kube-system"],
  clusterName: "testenv",
  owner: env("OWNER"),
  kubeRetry: { attempts: 1, baseMs: 1, capMs: 1 },
});
startExecutorUpkeep(executor, logger, { heartbeatMs: 200, reconcileMs: 3_600_000, expireMs: 3_600_000 });
const result = await executor.decide({
  actionId: env("ACTION_ID"),
  digest: env("DIGEST"),
  approver: { kind: "slack", id: env("APPROVER") },
  decision: "approve",
});
process.stdout.write(`decided ${result.status}\n`);
redis.disconnect();
process.exit(0);
