import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { isDeputyError } from "../../../core/errors.ts";
import { KubeApiError } from "../../../core/kube/errors.ts";
import {
  PREVIEW_POLICY_NAME,
  PREVIEW_UNUSABLE_RULE,
  createPreviewClient,
  parseWarningHeaders,
  type PreviewClient,
} from "../../../core/kube/preview.ts";
import { createLogger } from "../../../core/observability/logger.ts";

/**
 * The preview client's own logic against a scripted HTTP server standing in
 * for the API server (what it sends, how it reads answers, how the self-check
 * classifies each answer). test/core/kube/preview-cluster.test.ts proves the
 * same against the real API server and the shipped admission policy.
 */

const IDENTITY = "system:serviceaccount:deputy-system:deputy-preview";
const PROBE = "/api/v1/namespaces/deputy-system/pods/deputy-preview-probe/eviction";

interface Seen {
  method: string;
  url: URL;
  headers: IncomingMessage["headers"];
  body: string;
}
type Answer = { status: number; body?: unknown; headers?: Record<string, string | string[]> };

let server: Server;
let base: string;
const seen: Seen[] = [];
let script: (request: Seen) => Answer = () => ({ status: 500 });

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const request = {
        method: req.method ?? "",
        url: new URL(req.url ?? "/", "http://x"),
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      seen.push(request);
      const answer = script(request);
      res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
      res.end(answer.body === undefined ? "" : JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const silent = new Writable({
  write(_chunk, _encoding, callback) {
    callback();
  },
});

/** A plain-HTTP kubeconfig (client-node refuses http:// unless TLS verification is off). */
function kubeConfigFor(server: string, token: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "fake", server, skipTLSVerify: true }],
    users: [{ name: "reader", token }],
    contexts: [{ name: "fake", cluster: "fake", user: "reader" }],
    currentContext: "fake",
  });
  return kc;
}

function client(): PreviewClient {
  return createPreviewClient({
    kubeConfig: kubeConfigFor(base, "reader-token"),
    identity: IDENTITY,
    probeNamespace: "deputy-system",
    logger: createLogger({ level: "silent", destination: silent }),
    timeoutMs: 2_000,
  });
}

const status = (code: number, message: string, reason = "Forbidden"): Answer => ({
  status: code,
  body: { kind: "Status", apiVersion: "v1", status: "Failure", message, reason, code },
});
const policyDenied = status(
  403,
  `pods "deputy-preview-probe" is forbidden: ValidatingAdmissionPolicy '${PREVIEW_POLICY_NAME}' with binding '${PREVIEW_POLICY_NAME}' denied request: Deputy's preview account may only send dry runs (dryRun=All)`,
);
const podMissing = status(404, `pods "deputy-preview-probe" not found`, "NotFound");

/** The shipped guard, as the API server would answer a GET of each object. */
const GUARD = parseAllDocuments(
  readFileSync(join(import.meta.dirname, "../../../manifests/base/rbac/deputy-preview-guard.yaml"), "utf8"),
).map((doc) => doc.toJS() as Record<string, unknown>);
const ADMISSION = "/apis/admissionregistration.k8s.io/v1";
const guardAnswer = (request: Seen, patch: (docs: Record<string, unknown>[]) => void = () => undefined) => {
  const docs = structuredClone(GUARD);
  patch(docs);
  if (request.url.pathname === `${ADMISSION}/validatingadmissionpolicies/${PREVIEW_POLICY_NAME}`)
    return { status: 200, body: docs[0] };
  if (request.url.pathname === `${ADMISSION}/validatingadmissionpolicybindings/${PREVIEW_POLICY_NAME}`)
    return { status: 200, body: docs[1] };
  return undefined;
};

/** A healthy cluster: real writes refused by the policy (as shipped), dry runs answered. */
function healthy(
  answer: (request: Seen) => Answer = () => ({ status: 200, body: {} }),
  guard: (docs: Record<string, unknown>[]) => void = () => undefined,
) {
  return (request: Seen): Answer => {
    if (request.url.pathname === PROBE)
      return request.url.searchParams.get("dryRun") === "All" ? podMissing : policyDenied;
    return guardAnswer(request, guard) ?? answer(request);
  };
}

describe("parseWarningHeaders", () => {
  it("reads the API server's 299 warnings, escapes and several per header", () => {
    expect(
      parseWarningHeaders([
        '299 - "would violate PodSecurity \\"restricted:latest\\": privileged"',
        '299 - "first, with a comma", 299 - "second"',
        '299 kube-apiserver "dated" "Mon, 07 Dec 2026 05:00:00 GMT"',
      ]),
    ).toEqual([
      'would violate PodSecurity "restricted:latest": privileged',
      "first, with a comma",
      "second",
      "dated",
    ]);
  });

  it("keeps what it cannot parse, and drops exact repeats", () => {
    expect(parseWarningHeaders(["not the RFC form", '299 - "x"', '299 - "x"'])).toEqual([
      "not the RFC form",
      "x",
    ]);
  });
});

describe("the preview client", () => {
  it("refuses to send anything before its self-check has passed", async () => {
    const preview = client();
    try {
      expect(preview.health()).toMatchObject({ usable: false });
      expect(preview.health().sentence).toMatch(/not been checked/);
      seen.length = 0;
      const error = await preview
        .dryRun({ method: "PATCH", path: "/apis/apps/v1/namespaces/shop/deployments/web", body: {} })
        .catch((e: unknown) => e);
      expect(isDeputyError(error)).toBe(true);
      expect((error as { details: { rule?: string } }).details.rule).toBe(PREVIEW_UNUSABLE_RULE);
      expect(seen).toEqual([]);
    } finally {
      preview.close();
    }
  });

  it("sends every request as the preview account, as a dry run that a caller cannot turn off", async () => {
    script = healthy(() => ({
      status: 200,
      body: { kind: "Deployment", metadata: { name: "web" } },
      headers: { warning: ['299 - "one"', '299 - "two, with a comma"'] },
    }));
    const preview = client();
    try {
      expect((await preview.check()).usable).toBe(true);
      seen.length = 0;
      const answer = await preview.dryRun({
        method: "PATCH",
        path: "/apis/apps/v1/namespaces/shop/deployments/web",
        body: { apiVersion: "apps/v1", kind: "Deployment" },
        contentType: "application/apply-patch+yaml",
        query: { fieldManager: "deputy", force: "true", dryRun: "", DryRun: "None" },
      });
      expect(answer).toEqual({
        status: 200,
        object: { kind: "Deployment", metadata: { name: "web" } },
        warnings: ["one", "two, with a comma"],
      });
      const [request] = seen;
      expect(request!.method).toBe("PATCH");
      expect(request!.headers["impersonate-user"]).toBe(IDENTITY);
      expect(request!.headers.authorization).toBe("Bearer reader-token");
      expect(request!.headers["content-type"]).toBe("application/apply-patch+yaml");
      expect([...request!.url.searchParams.entries()].sort()).toEqual([
        ["dryRun", "All"],
        ["fieldManager", "deputy"],
        ["force", "true"],
      ]);
      expect(JSON.parse(request!.body)).toEqual({ apiVersion: "apps/v1", kind: "Deployment" });
      for (const path of [
        "/api/v1/namespaces/shop/pods/x?dryRun=None",
        "/api/v1/namespaces/shop/pods/../../../../apis/x",
        "/healthz",
      ]) {
        await expect(preview.dryRun({ method: "DELETE", path })).rejects.toThrow(/must be an API path/);
      }
    } finally {
      preview.close();
    }
  });

  it("throws the API server's refusal of a dry run as a KubeApiError", async () => {
    script = healthy(() =>
      status(403, `pods "x" is forbidden: violates PodSecurity "restricted:latest": privileged`),
    );
    const preview = client();
    try {
      await preview.check();
      const error = await preview
        .dryRun({ method: "POST", path: "/api/v1/namespaces/shop/pods", body: {} })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KubeApiError);
      expect((error as KubeApiError).status).toBe(403);
      expect((error as KubeApiError).message).toMatch(/violates PodSecurity/);
    } finally {
      preview.close();
    }
  });

  const cases: Array<[string, (request: Seen) => Answer, RegExp]> = [
    [
      "a real write that reached the API server (no policy)",
      () => podMissing,
      /^DANGER: Proposals cannot be previewed: a real write by the preview account system:serviceaccount:deputy-system:deputy-preview was NOT refused by admission .*deputy-preview-guard\.yaml/,
    ],
    [
      "a real eviction that went through",
      (r) =>
        r.url.pathname === PROBE ? { status: 201, body: { kind: "Status", status: "Success" } } : podMissing,
      /^DANGER: .*answered HTTP 201/,
    ],
    [
      "a read identity that may not impersonate",
      () =>
        status(
          403,
          `serviceaccounts "deputy-preview" is forbidden: User "system:serviceaccount:deputy-system:deputy-mcp" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "deputy-system"`,
        ),
      /may not act as the preview account .*deputy-preview-impersonator/,
    ],
    [
      "a preview account without RBAC",
      () =>
        status(
          403,
          `pods "deputy-preview-probe" is forbidden: User "${IDENTITY}" cannot create resource "pods/eviction" in API group "" in the namespace "deputy-system"`,
        ),
      /may not evict pods in deputy-system, .*ClusterRole deputy-preview/,
    ],
    [
      "a refusal by some other policy",
      () =>
        status(
          403,
          `pods "deputy-preview-probe" is forbidden: ValidatingAdmissionPolicy 'someone-else' with binding 'x' denied request: no`,
        ),
      /refused, but not by the admission policy deputy-preview-dry-run-only/,
    ],
    [
      "a missing probe namespace",
      () => status(404, `namespaces "deputy-system" not found`, "NotFound"),
      /namespace deputy-system \(DEPUTY_PREVIEW_PROBE_NAMESPACE\) is not there/,
    ],
    [
      "a dry run refused too",
      (r) =>
        guardAnswer(r) ??
        (r.url.searchParams.get("dryRun") === "All"
          ? status(500, "etcd is down", "InternalError")
          : policyDenied),
      /admission refuses the preview account's real write as it should, but the same request as a dry run got HTTP 500: etcd is down/,
    ],
  ];

  it.each(cases)("is unusable, in a sentence, on %s", async (_what, answer, sentence) => {
    script = answer;
    const preview = client();
    try {
      const health = await preview.check();
      expect(health.usable).toBe(false);
      expect(health.sentence).toMatch(sentence);
      expect(preview.health()).toEqual(health);
      await expect(
        preview.dryRun({ method: "DELETE", path: "/api/v1/namespaces/shop/pods/x" }),
      ).rejects.toThrow(health.sentence);
    } finally {
      preview.close();
    }
  });

  it("goes unusable as soon as a later check fails, and usable again when it passes", async () => {
    script = healthy();
    const preview = client();
    try {
      expect((await preview.check()).usable).toBe(true);
      expect(preview.health().sentence).toBe(
        `Proposals can be previewed: the API server refuses every real write by the preview account ${IDENTITY} (admission policy ${PREVIEW_POLICY_NAME}) and answers its dry runs.`,
      );
      script = () => podMissing;
      expect((await preview.check()).usable).toBe(false);
      await expect(
        preview.dryRun({ method: "DELETE", path: "/api/v1/namespaces/shop/pods/x" }),
      ).rejects.toThrow(/DANGER/);
      script = healthy();
      expect((await preview.check()).usable).toBe(true);
    } finally {
      preview.close();
    }
  });

  it("checks at start and again on its interval until stopped", async () => {
    script = healthy();
    const preview = client();
    try {
      seen.length = 0;
      preview.start(50);
      await expect.poll(() => seen.filter((r) => r.url.pathname === PROBE).length).toBeGreaterThanOrEqual(6);
      expect(preview.health().usable).toBe(true);
      preview.stop();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const after = seen.length;
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(seen.length).toBe(after);
    } finally {
      preview.close();
    }
  });

  it("says the API server does not answer when it does not", async () => {
    const preview = createPreviewClient({
      kubeConfig: kubeConfigFor("http://127.0.0.1:1", "t"),
      identity: IDENTITY,
      probeNamespace: "deputy-system",
      logger: createLogger({ level: "silent", destination: silent }),
    });
    try {
      const health = await preview.check();
      expect(health.usable).toBe(false);
      expect(health.sentence).toMatch(
        /^Proposals cannot be previewed: the Kubernetes API server at http:\/\/127\.0\.0\.1:1 could not be reached/,
      );
    } finally {
      preview.close();
    }
  });
});

describe("the self-check reads the policy it relies on", () => {
  type Docs = Record<string, unknown>[];
  const spec = (docs: Docs, index: number): Record<string, unknown> =>
    docs[index]!.spec as Record<string, unknown>;
  const cases: [string, (docs: Docs) => void, RegExp][] = [
    [
      "a namespace selector that leaves namespaces out",
      (docs) => {
        (spec(docs, 0).matchConstraints as Record<string, unknown>).namespaceSelector = {
          matchLabels: { team: "payments" },
        };
      },
      /selects only some namespaces or objects/,
    ],
    [
      "rules cut down to evictions",
      (docs) => {
        (spec(docs, 0).matchConstraints as Record<string, unknown>).resourceRules = [
          { apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods/eviction"] },
        ];
      },
      /its rules do not match every resource, subresource and write operation/,
    ],
    [
      "a binding that only warns",
      (docs) => {
        spec(docs, 1).validationActions = ["Warn"];
      },
      /binding does not Deny/,
    ],
    [
      "a failure policy that lets requests through",
      (docs) => {
        spec(docs, 0).failurePolicy = "Ignore";
      },
      /failurePolicy is Ignore, not Fail/,
    ],
  ];
  for (const [what, narrow, sentence] of cases) {
    it(`is unusable with ${what}, though the probe's eviction is refused`, async () => {
      script = healthy(undefined, narrow);
      const preview = client();
      try {
        const health = await preview.check();
        expect(health.usable).toBe(false);
        expect(health.sentence).toMatch(sentence);
        expect(health.sentence).toContain("Apply manifests/base/rbac/deputy-preview-guard.yaml as shipped.");
      } finally {
        preview.close();
      }
    });
  }

  it("is usable with the policy as shipped", async () => {
    script = healthy();
    const preview = client();
    try {
      expect((await preview.check()).usable).toBe(true);
    } finally {
      preview.close();
    }
  });
});
