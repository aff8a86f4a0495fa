import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isKubeApiError } from "../../core/kube/errors.ts";
import { roleForAction } from "../../core/identity/openbao-roles.ts";
import { createKubeWriter } from "../../executor/kube-writer.ts";
import type { ClusterEndpoint } from "../../executor/kube-writer.ts";
import { randomBytes } from "node:crypto";
import { AppsV1Api, type KubeConfig } from "@kubernetes/client-node";
import type { ActionStore } from "../../core/actions/store.ts";
import { freshDeployment } from "../helpers/deployments.ts";
import { storedProposal, type Harness } from "../mcp/harness.ts";
import { alice, bob, capture, executorOfAnotherCluster } from "../executor/support.ts";
import type { WriteEnv } from "../executor/write-env.ts";
import { startWriteFixture, writeBroker, type WriteFixture } from "../executor/write-fixture.ts";
import { startSecondCluster, type SecondCluster } from "./second-cluster.ts";

/**
 * Two local control planes side by side: the shared test environment is
 * cluster A; a second one, in a directory of its own with ports of its own,
 * is cluster B. Nothing Deputy obtains for one cluster opens the other.
 */
const NS = "deputy-w-broker";

let second: SecondCluster | undefined;
let clusterB: ClusterEndpoint;
let fixtureA: WriteFixture | undefined;
let envA: WriteEnv;
let adminB: KubeConfig;
let harnessA: Harness;
let store: ActionStore;
const captured = capture();

beforeAll(async () => {
  second = await startSecondCluster();
  clusterB = second.endpoint;
  adminB = second.admin;
  // Cluster A's MCP server, with A's read identity (its name is "testenv").
  fixtureA = await startWriteFixture("two-clusters", NS);
  ({ env: envA, harness: harnessA, store } = fixtureA);
}, 120_000);

afterAll(async () => {
  await fixtureA?.close();
  await second?.stop();
}, 60_000);

async function statusOf(cluster: ClusterEndpoint, token: string, path: string): Promise<number> {
  const writer = createKubeWriter(cluster, token, {
    retry: { attempts: 1, baseMs: 1, capMs: 1 },
    settleMs: 0,
  });
  try {
    await writer.get(path);
    return 200;
  } catch (error) {
    if (isKubeApiError(error)) return error.status;
    throw error;
  } finally {
    writer.close();
  }
}

describe("two clusters side by side", () => {
  it("runs cluster B on an API server of its own", () => {
    expect(clusterB.server).not.toBe(envA.cluster.server);
  });

  it("a credential minted by cluster A's OpenBao role is refused (401) by cluster B's API server", async () => {
    const broker = writeBroker(envA, captured.logger);
    const role = roleForAction(envA.roles, "scale_deployment");
    const path = `/apis/apps/v1/namespaces/${NS}/deployments/nope`;
    const statuses = await broker.withCredential({ role, namespace: NS }, async (credential) => ({
      // In A the credential authenticates: the Deployment is simply absent.
      inA: await statusOf(envA.cluster, credential.token, path),
      inB: await statusOf(clusterB, credential.token, path),
    }));
    expect(statuses.value).toEqual({ inA: 404, inB: 401 });
    expect(statuses.revoked).toBe(true);
  });

  it("an approval of an action proposed in cluster A, sent to cluster B's executor, is refused and changes nothing in B", async () => {
    const name = `cross-${randomBytes(3).toString("hex")}`;
    await freshDeployment(NS, name, { replicas: 1 });
    const reply = await harnessA.call(
      "scale_deployment",
      { namespace: NS, name, replicas: 3 },
      {
        "deputy/requester": alice,
        "deputy/conversation": { surface: "slack", teamId: "T1", channel: "C0A", thread: "1700000000.0001" },
        "deputy/reason": "two clusters",
      },
    );
    const action = await storedProposal(store, reply);
    const minted: string[] = [];
    const executorB = executorOfAnotherCluster({
      store,
      roles: envA.roles,
      cluster: clusterB,
      clusterName: "cluster-b",
      minted,
    });
    const result = await executorB.decide({
      actionId: action.id,
      digest: action.digest,
      approver: bob,
      decision: "approve",
    });
    expect(result).toMatchObject({ status: "refused", rule: "wrong-cluster" });
    expect(result.message).toContain("proposed for cluster testenv");
    expect(minted).toEqual([]);
    expect((await store.get(action.id))?.state).toBe("pending");
    // Nothing of A's exists in B: the Deployment the action names is not there to scale.
    const inB = await adminB
      .makeApiClient(AppsV1Api)
      .readNamespacedDeployment({ name, namespace: NS })
      .then(
        () => 200,
        (error: { code?: number }) => error.code,
      );
    expect(inB).toBe(404);
  });
});
