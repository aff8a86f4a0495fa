import { describe, expect, it } from "vitest";
import {
  bearerMatches,
  channelFor,
  parseAlertRoutes,
  subjectOf,
  type AlertmanagerAlert,
} from "../../bot/alerts/alertmanager.ts";
import { parseConfig } from "../../core/config/config.ts";

const alert = (labels: Record<string, string>): AlertmanagerAlert => ({
  status: "firing",
  labels,
  annotations: {},
  fingerprint: "abc123",
});

describe("alert routing and authentication", () => {
  it("routes by the first matching label, then the fallback", () => {
    const routes = parseAlertRoutes(["namespace=shop:C0SHOP", "team=payments:C0PAY"], "C0TRIAGE");
    expect(channelFor(alert({ namespace: "shop", team: "payments" }), routes)).toBe("C0SHOP");
    expect(channelFor(alert({ namespace: "billing", team: "payments" }), routes)).toBe("C0PAY");
    expect(channelFor(alert({ namespace: "billing" }), routes)).toBe("C0TRIAGE");
    expect(
      channelFor(alert({ namespace: "billing" }), parseAlertRoutes(["namespace=shop:C0SHOP"], undefined)),
    ).toBe(undefined);
  });

  it("refuses routes it cannot read, with the rule's shape in the message", () => {
    expect(() => parseAlertRoutes(["namespace=shop"], undefined)).toThrow(/label=value:CHANNELID/);
    expect(() => parseAlertRoutes(["namespace=shop:#ops"], undefined)).toThrow(/DEPUTY_ALERT_ROUTES/);
    expect(() => parseAlertRoutes([], "ops")).toThrow(/SLACK_TRIAGE_CHANNEL/);
  });

  it("accepts only the exact bearer token, and a token long enough to be one", () => {
    const token = "t".repeat(40);
    expect(bearerMatches(`Bearer ${token}`, token)).toBe(true);
    expect(bearerMatches(`Bearer ${token}x`, token)).toBe(false);
    expect(bearerMatches(token, token)).toBe(false);
    expect(bearerMatches(undefined, token)).toBe(false);
    expect(() => parseConfig({ DEPUTY_ALERTS_TOKEN: "short" })).toThrow(/DEPUTY_ALERTS_TOKEN.*32 characters/);
  });

  it("diagnoses the pod, Deployment or node an alert names, and nothing it cannot name safely", () => {
    expect(subjectOf(alert({ namespace: "shop", pod: "checkout-7d9f" }))).toEqual({
      tool: "troubleshoot_pod",
      namespace: "shop",
      name: "checkout-7d9f",
    });
    expect(subjectOf(alert({ alertname: "KubeNodeNotReady", instance: "node-c" }))).toEqual({
      tool: "troubleshoot_node",
      name: "node-c",
    });
    expect(subjectOf(alert({ namespace: "shop", pod: "Robert'); DROP" }))).toBeUndefined();
    expect(subjectOf(alert({ alertname: "Watchdog" }))).toBeUndefined();
  });
});
