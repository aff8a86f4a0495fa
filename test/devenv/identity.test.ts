import { describe, expect, it } from "vitest";
import { ApiException, AuthenticationV1Api, CoreV1Api } from "@kubernetes/client-node";
import {
  adminKubeConfig,
  eventually,
  freshNamespace,
  mintServiceAccountToken,
  serviceAccountKubeConfig,
  SEED,
} from "../helpers/testenv.ts";

/** Status code of a rejected client-node call (fails the test if the call succeeded). */
async function rejection(call: Promise<unknown>): Promise<ApiException<unknown>> {
  try {
    await call;
  } catch (error) {
    if (error instanceof ApiException) return error;
    throw error;
  }
  throw new Error("expected the API server to refuse the request, but it succeeded");
}

describe("identities on the real API server", () => {
  it("refuses writes and Secret reads to an unprivileged service account, while the admin can do both", async () => {
    const ns = await freshNamespace("rbac");
    const admin = adminKubeConfig().makeApiClient(CoreV1Api);
    const nobody = (await serviceAccountKubeConfig(ns, "nobody")).makeApiClient(CoreV1Api);
    const configMap = { metadata: { name: "probe" }, data: { a: "b" } };
    const secret = { metadata: { name: "probe" }, stringData: { password: "hunter2" } };

    expect((await rejection(nobody.createNamespacedConfigMap({ namespace: ns, body: configMap }))).code).toBe(
      403,
    );
    expect((await rejection(nobody.createNamespacedSecret({ namespace: ns, body: secret }))).code).toBe(403);
    expect((await rejection(nobody.listNamespacedSecret({ namespace: ns }))).code).toBe(403);

    await admin.createNamespacedConfigMap({ namespace: ns, body: configMap });
    await admin.createNamespacedSecret({ namespace: ns, body: secret });
    const read = await admin.readNamespacedSecret({ name: "probe", namespace: ns });
    expect(Buffer.from(read.data?.password ?? "", "base64").toString()).toBe("hunter2");
    expect((await rejection(nobody.readNamespacedSecret({ name: "probe", namespace: ns }))).code).toBe(403);
  });

  it("lets a `view` service account read pods but not Secrets, and not write", async () => {
    const ns = await freshNamespace("viewer");
    const viewer = (await serviceAccountKubeConfig(ns, "reader", { clusterRole: "view" })).makeApiClient(
      CoreV1Api,
    );
    const pods = await viewer.listNamespacedPod({ namespace: SEED.namespace });
    expect(pods.items.length).toBeGreaterThan(0);
    expect((await rejection(viewer.listNamespacedSecret({ namespace: SEED.namespace }))).code).toBe(403);
    const victim = pods.items[0]!.metadata!.name!;
    expect(
      (await rejection(viewer.deleteNamespacedPod({ name: victim, namespace: SEED.namespace }))).code,
    ).toBe(403);
  });

  it("refuses TokenRequest durations under 600 seconds", async () => {
    const ns = await freshNamespace("ttl");
    await mintServiceAccountToken(ns, "short", { expirationSeconds: 600 });
    const error = await rejection(mintServiceAccountToken(ns, "short", { expirationSeconds: 599 }));
    expect(error.code).toBe(422);
    expect(String(error.body)).toMatch(/10 minutes/);
  });

  it("answers TokenReview: valid tokens authenticate with their audience, and die with their service account", async () => {
    const ns = await freshNamespace("review");
    const admin = adminKubeConfig();
    const authn = admin.makeApiClient(AuthenticationV1Api);
    const token = await mintServiceAccountToken(ns, "agent", { audience: "openbao" });

    const review = await authn.createTokenReview({ body: { spec: { token, audiences: ["openbao"] } } });
    expect(review.status?.authenticated).toBe(true);
    expect(review.status?.user?.username).toBe(`system:serviceaccount:${ns}:agent`);
    expect(review.status?.audiences).toEqual(["openbao"]);

    const wrongAudience = await authn.createTokenReview({
      body: { spec: { token, audiences: ["https://kubernetes.default.svc"] } },
    });
    expect(wrongAudience.status?.authenticated).not.toBe(true);

    const forged = await authn.createTokenReview({ body: { spec: { token: `${token.slice(0, -4)}AAAA` } } });
    expect(forged.status?.authenticated).not.toBe(true);

    // Deleting the account kills its tokens: this is what makes revoking an OpenBao lease final.
    await admin.makeApiClient(CoreV1Api).deleteNamespacedServiceAccount({ name: "agent", namespace: ns });
    // (The API server checks the account through its informer cache, so allow a moment.)
    await eventually("the deleted account's token to stop authenticating", async () => {
      const afterDelete = await authn.createTokenReview({
        body: { spec: { token, audiences: ["openbao"] } },
      });
      return afterDelete.status?.authenticated !== true;
    });
  });
});
