import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extractFenced, outsideFences } from "../../../../core/untrusted/fence.ts";
import {
  SEED,
  adminKubeConfig,
  deleteNamespace,
  eventually,
  freshNamespace,
} from "../../../helpers/testenv.ts";
import { countTokens } from "../../../helpers/tokens.ts";
import { startHarness, type Harness } from "../../harness.ts";

/**
 * Every read tool against the seeded `shop` namespace, through the real MCP
 * SDK client, with the server running as a deputy-reader service account.
 */
let h: Harness;
let pendingNs: string;
const admin = (): CoreV1Api => adminKubeConfig().makeApiClient(CoreV1Api);

async function podOf(app: string): Promise<string> {
  const pods = await admin().listNamespacedPod({ namespace: SEED.namespace, labelSelector: `app=${app}` });
  const live = pods.items.filter((p) => !p.metadata?.deletionTimestamp);
  // Prefer the pod showing the seeded problem (payments keeps healthy pods of revision 1).
  const broken = live.find((p) => p.status?.containerStatuses?.some((s) => !s.ready));
  const name = (broken ?? live[0])?.metadata?.name;
  if (!name) throw new Error(`no pod for app=${app}`);
  return name;
}

beforeAll(async () => {
  h = await startHarness();
  pendingNs = await freshNamespace("pending");
  // Pinned to the NotReady node: the scheduler (simulated) reports it unschedulable.
  await admin().createNamespacedPod({
    namespace: pendingNs,
    body: {
      metadata: { name: "stuck" },
      spec: {
        nodeSelector: { "kubernetes.io/hostname": SEED.notReadyNode },
        containers: [{ name: "app", image: "nginx:1.27.3" }],
      },
    },
  });
});

afterAll(async () => {
  await h?.close();
  if (pendingNs) await deleteNamespace(pendingNs);
});

describe("tools/list", () => {
  it("lists every read tool as read-only with a JSON schema", async () => {
    const { tools } = await h.client.listTools();
    const names = tools.map((t) => t.name);
    for (const name of [
      "list_namespaces",
      "list_pods",
      "describe_pod",
      "troubleshoot_pod",
      "check_logs",
      "get_events",
      "list_deployments",
      "describe_deployment",
      "show_unhealthy_nodes",
      "troubleshoot_node",
      "get_resource",
      "kubectl",
    ]) {
      const tool = tools.find((t) => t.name === name);
      expect(tool, name).toBeDefined();
      expect(tool?.annotations?.readOnlyHint).toBe(true);
      expect(tool?.annotations?.destructiveHint).toBe(false);
      expect(tool?.inputSchema.type).toBe("object");
    }
    expect(new Set(names).size).toBe(names.length);
    expect(tools.find((t) => t.name === "list_pods")?.inputSchema.properties).toHaveProperty("continue");
  });
});

describe("diagnosis of every seeded problem", () => {
  it("crash loop: exit code and the log lines that explain it", async () => {
    const reply = await h.call("troubleshoot_pod", { namespace: "shop", name: "checkout" });
    expect(reply.isError).toBe(false);
    const own = outsideFences(reply.text);
    expect(own).toMatch(/Deployment shop\/checkout/);
    expect(own).toMatch(
      /crash-loop: Container checkout is in CrashLoopBackOff: it has restarted \d+ times; the last run ended with \w+, exit code 1 \(application error\)/,
    );
    const log = extractFenced(reply.text).find((b) => b.source.startsWith("pod-log shop/checkout-"));
    expect(log?.text).toContain("PAYMENT_GATEWAY_URL is not set");
    const findings = (
      reply.structured?.pods as { findings: { rule: string; facts?: { exitCode?: number } }[] }[]
    )[0]!.findings;
    expect(findings[0]).toMatchObject({ rule: "crash-loop", facts: { exitCode: 1 } });
  });

  it("OOMKilled: the memory limit", async () => {
    const reply = await h.call("troubleshoot_pod", {
      namespace: "shop",
      name: await podOf(SEED.oomKilled.deployment),
    });
    expect(outsideFences(reply.text)).toMatch(
      /oom-killed: Container recommendations was OOMKilled \(exit code 137\).*memory limit is 256Mi/,
    );
  });

  it("ImagePullBackOff: the image and the pull error", async () => {
    const reply = await h.call("troubleshoot_pod", { namespace: "shop", name: "payments" });
    const own = outsideFences(reply.text);
    expect(own).toContain(`image ${SEED.imagePull.badImage} cannot be pulled (ImagePullBackOff)`);
    expect(own).toContain("the image or tag does not exist");
    const evidence = extractFenced(reply.text)
      .map((b) => b.text)
      .join("\n");
    expect(evidence).toMatch(/not found/);
  });

  it("Pending: the scheduler's reason", async () => {
    await eventually("pod marked unschedulable", async () => {
      const pod = await admin().readNamespacedPod({ namespace: pendingNs, name: "stuck" });
      return pod.status?.conditions?.some((c) => c.type === "PodScheduled" && c.status === "False");
    });
    const reply = await h.call("troubleshoot_pod", { namespace: pendingNs, name: "stuck" });
    expect(outsideFences(reply.text)).toContain(
      "unschedulable: The scheduler cannot place the pod on any node (Unschedulable)",
    );
    expect(extractFenced(reply.text)[0]?.text).toMatch(/0\/3 nodes are available/);
  });

  it("NotReady node with MemoryPressure", async () => {
    const reply = await h.call("troubleshoot_node", { name: SEED.notReadyNode });
    const own = outsideFences(reply.text);
    expect(own).toMatch(/node-not-ready: Node node-c is NotReady/);
    expect(own).toMatch(/memory-pressure: Node node-c reports MemoryPressure/);
    expect(own).toMatch(/CPU requests .* of .* allocatable/);
    const unhealthy = await h.call("show_unhealthy_nodes");
    // Other tests add and cordon nodes of their own; the seeded ones are what is checked here.
    const seededNodes = (unhealthy.structured?.unhealthy as { name: string }[]).filter((n) =>
      ["node-a", "node-b", "node-c"].includes(n.name),
    );
    expect(seededNodes).toEqual([
      expect.objectContaining({
        name: "node-c",
        status: expect.stringMatching(/^NotReady/),
        problems: expect.arrayContaining(["node-not-ready", "memory-pressure"]),
      }),
    ]);
  });

  it("a healthy pod is called healthy", async () => {
    const reply = await h.call("troubleshoot_pod", {
      namespace: "shop",
      name: await podOf(SEED.healthy.deployment),
    });
    expect(reply.text).toContain("healthy: No problem found");
  });
});

/**
 * Shorter answers must still be answers: each seeded problem's diagnosis
 * names its cause on its first line, within 400 tokens (Claude's tokenizer),
 * and the node list costs no more than the TypeScript mcp-server-kubernetes'
 * `kubectl_get nodes` on the same cluster.
 */
const DIAGNOSIS_TOKENS = 400;
// Measured by `npm run bench -- tokens` (mcp-server-kubernetes 4.1.7, kubectl_get
// resourceType=nodes against the seeded three-node cluster: 168 tokens); tests
// cannot install the peer, so its figure is recorded here.
const TS_SERVER_NODE_LIST_TOKENS = 168;

describe("the cut never removes the answer", () => {
  const firstLine = (text: string): string => text.split("\n")[0]!;

  it("crash loop: CrashLoopBackOff, exit code 1 and a missing setting first, the setting itself as the first evidence", async () => {
    const reply = await h.call("troubleshoot_pod", { namespace: "shop", name: SEED.crashLoop.deployment });
    expect(firstLine(reply.text)).toMatch(
      /^pod shop\/checkout-\S+ \(Deployment shop\/checkout\), CrashLoopBackOff: \[critical\] crash-loop: Container checkout is in CrashLoopBackOff: .*exit code 1 \(application error\).*Its log reports a missing configuration setting/,
    );
    const evidence = extractFenced(reply.text)[0]!;
    expect(evidence.source).toMatch(/^pod-log shop\/checkout-\S+\/checkout _previous_, \d of \d+ lines$/);
    expect(evidence.text).toMatch(/Caused by: .*PAYMENT_GATEWAY_URL is not set/);
    expect(countTokens(reply.text)).toBeLessThanOrEqual(DIAGNOSIS_TOKENS);
  });

  it("OOMKilled: the memory limit on the first line", async () => {
    const reply = await h.call("troubleshoot_pod", {
      namespace: "shop",
      name: await podOf(SEED.oomKilled.deployment),
    });
    expect(firstLine(reply.text)).toMatch(
      /\[critical\] oom-killed: Container recommendations was OOMKilled \(exit code 137\).*memory limit is 256Mi/,
    );
    expect(countTokens(reply.text)).toBeLessThanOrEqual(DIAGNOSIS_TOKENS);
  });

  it("ImagePullBackOff: the image and why it cannot be pulled on the first line", async () => {
    const reply = await h.call("troubleshoot_pod", { namespace: "shop", name: SEED.imagePull.deployment });
    expect(firstLine(reply.text)).toContain(
      `image-pull: Container payments cannot start: image ${SEED.imagePull.badImage} cannot be pulled`,
    );
    expect(firstLine(reply.text)).toContain("the image or tag does not exist in the registry");
    expect(countTokens(reply.text)).toBeLessThanOrEqual(DIAGNOSIS_TOKENS);
  });

  it("NotReady node: NotReady and memory pressure, the NotReady first", async () => {
    const reply = await h.call("troubleshoot_node", { name: SEED.notReadyNode });
    expect(firstLine(reply.text)).toMatch(
      /^node node-c, NotReady\S*: \[critical\] node-not-ready: Node node-c is NotReady/,
    );
    expect(outsideFences(reply.text)).toMatch(/memory-pressure: Node node-c reports MemoryPressure/);
    expect(reply.text).toContain('kubectl "describe node node-c"');
    expect(countTokens(reply.text)).toBeLessThanOrEqual(DIAGNOSIS_TOKENS);
  });

  it("node list: the NotReady node and its problems, for no more than the TypeScript server's tokens", async () => {
    const reply = await h.call("show_unhealthy_nodes");
    expect(reply.text).toMatch(/^node-c\s+NotReady\S*\s+node-not-ready,memory-pressure\s/m);
    // Other tests add and cordon nodes of their own: their table rows are left out of the count.
    const seeded = reply.text
      .split("\n")
      .filter((line) => /^node-[abc]\s/.test(line) || !/^\S+\s+(Ready|NotReady|Unknown)\S*\s/.test(line))
      .join("\n");
    expect(countTokens(seeded)).toBeLessThanOrEqual(TS_SERVER_NODE_LIST_TOKENS);
  });
});

describe("each read tool", () => {
  it("list_namespaces", async () => {
    const reply = await h.call("list_namespaces");
    expect(reply.text).toMatch(/^shop\s+Active/m);
  });

  it("list_pods shows kubectl statuses and filters unhealthy pods", async () => {
    const all = await h.call("list_pods", { namespace: "shop" });
    expect(all.text).toMatch(/CrashLoopBackOff/);
    expect(all.text).toMatch(/ImagePullBackOff/);
    const unhealthy = await h.call("list_pods", { namespace: "shop", unhealthyOnly: true });
    const names = (unhealthy.structured?.pods as { name: string }[]).map((p) => p.name);
    expect(names.some((n) => n.startsWith("checkout-"))).toBe(true);
    expect(names.some((n) => n.startsWith("frontend-"))).toBe(false);
  });

  it("describe_pod", async () => {
    const name = await podOf(SEED.crashLoop.deployment);
    const reply = await h.call("describe_pod", { namespace: "shop", pod: name });
    expect(reply.text).toContain(`Pod shop/${name}: CrashLoopBackOff`);
    const body = extractFenced(reply.text)[0]!.text;
    expect(body).toContain("Image: ghcr.io/shop-example/checkout:2.14.0");
    expect(body).toContain("SPRING_PROFILES_ACTIVE=production");
    expect(body).toMatch(/Events:\n.*BackOff/s);
    expect(body.slice(body.indexOf("Events:"))).not.toMatch(/_shop\([0-9a-f-]{36}\)/);
  });

  it("check_logs: tail, grep and previous", async () => {
    const name = await podOf(SEED.crashLoop.deployment);
    const tail = await h.call("check_logs", { namespace: "shop", pod: name, tailLines: 5 });
    expect(tail.structured?.lines).toBe(5);
    const grep = await h.call("check_logs", {
      namespace: "shop",
      pod: name,
      grep: "caused by|PAYMENT_GATEWAY",
    });
    const lines = extractFenced(grep.text)[0]!.text.split("\n");
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((l) => /caused by|payment_gateway/i.test(l))).toBe(true);
    const previous = await h.call("check_logs", {
      namespace: "shop",
      pod: name,
      previous: true,
      tailLines: 20,
    });
    expect(previous.isError).toBe(false);
    expect(previous.text).toContain("(previous run)");
  });

  it("get_events", async () => {
    const reply = await h.call("get_events", { namespace: "shop", type: "Warning" });
    expect(outsideFences(reply.text)).toMatch(/\d+ events in namespace shop for Warning/);
    const table = extractFenced(reply.text)[0]!.text;
    expect(table).toMatch(
      /BackOff\s+pod\/checkout-\S+\s+\d+\s+Back-off restarting failed container checkout$/m,
    );
    // Filtered to Warnings, the TYPE column and the kubelet's repeat of the pod's name and uid go.
    expect(table.split("\n")[0]).toMatch(/^LAST SEEN\s+REASON\s+OBJECT\s+COUNT\s+MESSAGE$/);
    expect(table).not.toMatch(/_shop\([0-9a-f-]{36}\)/);
    expect(reply.structured?.warnings).toBeGreaterThan(0);
  });

  it("list_deployments flags the Argo CD-managed one", async () => {
    const reply = await h.call("list_deployments", { namespace: "shop" });
    expect(reply.text).toMatch(/^catalog\s.*Argo CD$/m);
    const rows = reply.structured?.deployments as { name: string; managedBy: string }[];
    expect(rows.find((r) => r.name === "catalog")?.managedBy).toBe("Argo CD");
    expect(rows.find((r) => r.name === "frontend")?.managedBy).toBe("");
  });

  it("describe_deployment shows the stuck rollout and both revisions", async () => {
    const reply = await h.call("describe_deployment", { namespace: "shop", name: SEED.imagePull.deployment });
    expect(reply.structured?.rolloutComplete).toBe(false);
    expect((reply.structured?.replicaSets as unknown[]).length).toBeGreaterThanOrEqual(2);
    const body = extractFenced(reply.text)[0]!.text;
    expect(body).toContain("payments:v3.1.4");
    expect(body).toContain(SEED.imagePull.badImage);
    const argo = await h.call("describe_deployment", { namespace: "shop", name: "catalog" });
    expect(outsideFences(argo.text)).toContain("Managed by Argo CD");
  });

  it("get_resource reads any allowed kind", async () => {
    const reply = await h.call("get_resource", {
      kind: "pdb",
      name: SEED.statefulSet.pdb,
      namespace: "shop",
    });
    expect(reply.isError).toBe(false);
    expect(reply.structured?.kind).toBe("PodDisruptionBudget");
    expect(extractFenced(reply.text)[0]?.text).toMatch(/disruptionsAllowed: 0/);
    expect(reply.text).not.toContain("managedFields");
    const svc = await h.call("get_resource", { kind: "svc", name: "db", namespace: "shop" });
    expect(svc.text).toContain("clusterIP: None");
  });

  it("kubectl serves read verbs through the API", async () => {
    const pods = await h.call("kubectl", { command: "kubectl get pods -n shop -l app=checkout" });
    expect(pods.text).toMatch(/checkout-\S+\s+0\/1\s+CrashLoopBackOff/);
    const svc = await h.call("kubectl", { command: "get svc,sts -n shop -o wide" });
    expect(svc.text).toMatch(/CLUSTER-IP/);
    expect(svc.text).toMatch(/db\s/);
    const yaml = await h.call("kubectl", { command: "get deploy frontend -n shop -o yaml" });
    expect(yaml.text).toMatch(/kind: Deployment/);
    const names = await h.call("kubectl", { command: "get nodes -o name" });
    expect(names.text).toContain("nodes/node-c");
    const describe = await h.call("kubectl", { command: "describe node node-c" });
    expect(describe.text).toContain("node-not-ready");
    const rollout = await h.call("kubectl", { command: "rollout status deploy/payments -n shop" });
    expect(rollout.structured?.rolloutComplete).toBe(false);
    const logs = await h.call("kubectl", { command: `logs deploy/checkout -n shop --tail=3` });
    expect(logs.structured?.lines).toBe(3);
    const events = await h.call("kubectl", { command: "events -n shop --types=Warning" });
    expect(events.text).toMatch(/BackOff/);
    const canI = await h.call("kubectl", { command: "auth can-i delete pods -n shop" });
    expect(canI.text).toMatch(/^no — Deputy's read identity may not delete pods in namespace shop/);
    const canList = await h.call("kubectl", { command: "auth can-i list pods -n shop" });
    expect(canList.structured?.allowed).toBe(true);
    const resources = await h.call("kubectl", { command: "api-resources" });
    expect(resources.text).toMatch(/^deployments\s+deploy\s+apps\/v1\s+true\s+Deployment$/m);
    expect(resources.text).not.toMatch(/^secrets\s/m);
    const explain = await h.call("kubectl", { command: "explain deployment.spec.strategy" });
    expect(explain.text).toContain("FIELD: Deployment.spec.strategy");
    expect(explain.text).toContain("rollingUpdate");
    const top = await h.call("kubectl", { command: "top nodes" });
    expect(top.isError).toBe(false);
    expect(top.text).toMatch(/node-a/);
    const version = await h.call("kubectl", { command: "version" });
    expect(version.text).toMatch(/^Server Version: \S+ \(linux\/amd64\)/);
  });

  it("kubectl refuses a write verb naming the write tool, before any API call", async () => {
    const before = h.requests.length;
    const reply = await h.call("kubectl", { command: "kubectl delete pod checkout-1 -n shop" });
    expect(reply.isError).toBe(true);
    expect(reply.text).toContain(
      "Use the delete_pod tool (pods only, evicted through the Eviction API) instead",
    );
    const restart = await h.call("kubectl", { command: "rollout restart deployment/checkout -n shop" });
    expect(restart.text).toContain("restart_deployment");
    expect(h.requests.length).toBe(before);
  });
});
