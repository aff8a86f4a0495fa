import { describe, expect, it } from "vitest";
import { REDACTED, describeEnvVar, redactText, redactValue } from "../../core/untrusted/redact.ts";

const JWT =
  "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEyMyJ9.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50Iiwic3ViIjoieCJ9.c2lnbmF0dXJlLWJ5dGVzLWhlcmU";

describe("redactText", () => {
  it.each([
    ["a JWT", `token from file: ${JWT}`, JWT],
    ["a bearer header", "Authorization: Bearer abc123def456ghi789", "abc123def456ghi789"],
    ["password=value", "connecting with password=hunter2!x to db", "hunter2!x"],
    ["JSON secret fields", '{"client_secret": "s3cr3t-value", "user": "bob"}', "s3cr3t-value"],
    [
      "an env-style API key",
      "export STRIPE_API_KEY=sk_live_4eC39HqLyjWDarjtT1zdp7dc",
      "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    ],
    ["URL credentials", "dsn postgres://app:pa55word@db:5432/shop", "pa55word"],
    ["a Slack token", "posting with xoxb-1234567890-abcdefghijkl", "xoxb-1234567890-abcdefghijkl"],
    [
      "an OpenBao token",
      "vault token hvs.CAESIJ1234567890abcdefghijklmnop",
      "hvs.CAESIJ1234567890abcdefghijklmnop",
    ],
    ["an AWS key id", "aws key AKIAIOSFODNN7EXAMPLE in use", "AKIAIOSFODNN7EXAMPLE"],
  ])("removes %s", (_label, input, secret) => {
    const output = redactText(input);
    expect(output).not.toContain(secret);
    expect(output).toMatch(/redacted/);
  });

  it("removes a whole private key block", () => {
    const key =
      "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END RSA PRIVATE KEY-----";
    const output = redactText(`before\n${key}\nafter`);
    expect(output).not.toContain("MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo");
    expect(output).toContain("before");
    expect(output).toContain("after");
  });

  it("leaves ordinary diagnostic text alone", () => {
    const text =
      'Error: connect ECONNREFUSED 10.0.0.12:5432\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16)\nBack-off restarting failed container app in pod checkout-7d9f\npassword authentication failed for user "shop"';
    expect(redactText(text)).toBe(text);
  });

  it("is idempotent", () => {
    const once = redactText(`password=hunter22 ${JWT}`);
    expect(redactText(once)).toBe(once);
  });
});

describe("redactValue", () => {
  it("blanks sensitive keys and scans other strings", () => {
    const value = redactValue({
      metadata: { annotations: { "deploy/token": "abcd1234", note: `use ${JWT}` } },
      spec: { password: "x1y2z3", replicas: 2 },
    });
    expect(value.metadata.annotations["deploy/token"]).toBe(REDACTED);
    expect(value.metadata.annotations.note).not.toContain(JWT);
    expect(value.spec.password).toBe(REDACTED);
    expect(value.spec.replicas).toBe(2);
  });

  it("keeps secretKeyRef env vars as references and hides sensitive literal values", () => {
    const env = redactValue([
      { name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "db-creds", key: "password" } } },
      { name: "API_TOKEN", value: "plain-text-token-123" },
      { name: "LOG_LEVEL", value: "debug" },
    ]);
    expect(env[0]).toEqual({
      name: "DB_PASSWORD",
      valueFrom: { secretKeyRef: { name: "db-creds", key: "password" } },
    });
    expect(env[1]).toEqual({ name: "API_TOKEN", value: REDACTED });
    expect(env[2]).toEqual({ name: "LOG_LEVEL", value: "debug" });
  });
});

describe("describeEnvVar", () => {
  it("shows a secret reference, never a value", () => {
    expect(
      describeEnvVar(
        { name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "db-creds", key: "password" } } },
        "shop",
      ),
    ).toBe("DB_PASSWORD=<from secret shop/db-creds key password>");
    expect(describeEnvVar({ name: "SESSION_SECRET", value: "abc" })).toBe(`SESSION_SECRET=${REDACTED}`);
  });
});
