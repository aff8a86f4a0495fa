import { describe, expect, it } from "vitest";
import { parseKubectl, tokenize } from "../../../../../mcp/tools/read/kubectl/parse.ts";

describe("parseKubectl", () => {
  it("parses verbs, resources and flags the way kubectl does", () => {
    expect(parseKubectl("kubectl get pods -n shop -l app=checkout -o wide")).toMatchObject({
      verb: "get",
      args: ["pods"],
      namespace: "shop",
      selector: "app=checkout",
      output: "wide",
    });
    expect(parseKubectl("logs checkout-1 -c app --tail=50 --since 5m -p -nshop")).toMatchObject({
      verb: "logs",
      args: ["checkout-1"],
      container: "app",
      tail: 50,
      sinceSeconds: 300,
      previous: true,
      namespace: "shop",
    });
    expect(parseKubectl("auth can-i delete pods -n shop")).toMatchObject({
      verb: "auth",
      sub: "can-i",
      args: ["delete", "pods"],
    });
    expect(parseKubectl("rollout status deploy/checkout -n shop")).toMatchObject({
      verb: "describe",
      args: ["deploy/checkout"],
    });
    expect(parseKubectl("get pods -A --field-selector=status.phase=Pending")).toMatchObject({
      allNamespaces: true,
      fieldSelector: "status.phase=Pending",
    });
  });

  it.each([
    ["delete pod checkout-1 -n shop", /delete_pod/],
    ["scale deploy/checkout --replicas=0", /scale_deployment/],
    ["rollout restart deployment/checkout", /restart_deployment/],
    ["rollout undo deployment/payments", /rollback_deployment/],
    ["cordon node-c", /cordon_node/],
    ["drain node-c --force", /drain_node/],
    ["set image deploy/x app=y", /set_deployment_image/],
    ["apply -f x.yaml", /apply_manifest/],
    ["patch deploy x -p {}", /apply_manifest/],
  ])("refuses the write %j naming the write tool", (line, tool) => {
    expect(() => parseKubectl(line)).toThrow(tool);
    expect(() => parseKubectl(line)).toThrow(/only reads/);
  });

  it.each([
    ["get pods | grep x", /not a shell/],
    ["get pods; rm -rf /", /not a shell/],
    ["get pods $(whoami)", /not a shell/],
    ["get pods --kubeconfig /root/.kube/config", /own read-only identity/],
    ["get pods --as system:admin", /own read-only identity/],
    ["get pods --token=abc", /own read-only identity/],
    ["exec -it pod -- sh", /interactive/],
    ["logs -f pod", /streaming/],
    ["get pods --frobnicate", /unknown or unsupported kubectl flag "--frobnicate"/],
    ["frobnicate pods", /unknown kubectl verb "frobnicate"/],
    ["config view", /credentials/],
    ["", /empty kubectl command/],
  ])("refuses %j with a clear reason", (line, reason) => {
    expect(() => parseKubectl(line)).toThrow(reason);
  });

  it("tokenizes quotes", () => {
    expect(tokenize(`get pods -l 'app in (a, b)'`)).toEqual(["get", "pods", "-l", "app in (a, b)"]);
  });
});
