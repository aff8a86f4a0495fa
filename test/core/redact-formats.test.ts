import fc from "fast-check";
import { growthOnFourfoldInput } from "../helpers/growth.ts";
import { describe, expect, it } from "vitest";
import { redactText, redactValue } from "../../core/untrusted/redact.ts";

/**
 * Each secret format Deputy must catch, as a generator: the text to embed and
 * the parts that must not survive. Random values, so no test passes because a
 * fixed example happens to be on a list.
 */
const chars = (alphabet: string, min: number, max: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...alphabet), minLength: min, maxLength: max });
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const B64 = `${ALNUM}+/`;
// A password: at least one digit so it cannot be mistaken for prose, symbols allowed (including "/").
const password = fc
  .tuple(chars(ALNUM, 7, 20), chars("0123456789", 1, 2), chars("/!*-_.~", 0, 2))
  .map(([a, d, s]) => `${a}${d}${s}`);
// 40 characters of base64 with upper case, lower case and a digit, like every AWS secret access key.
const awsSecret = fc
  .tuple(
    chars(B64, 37, 37),
    chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 1, 1),
    chars("abcdefghijklmnopqrstuvwxyz", 1, 1),
  )
  .map(([body, upper, lower]) => `${upper}${body.slice(0, 19)}7${lower}${body.slice(19, 37)}`)
  .filter((s) => !s.startsWith("/") && !s.includes("//"));
const host = fc.constantFrom("db", "cache.shop.svc", "10.0.0.12", "redis-master");

interface Sample {
  text: string;
  secrets: string[];
}

const FORMATS: Record<string, fc.Arbitrary<Sample>> = {
  "kubeconfig client-key-data": chars(B64, 40, 400).map((data) => ({
    text: `users:\n- name: admin\n  user:\n    client-key-data: LS0tLS1CRUdJTi${data}==`,
    secrets: [data.slice(0, 24)],
  })),
  "kubeconfig client-certificate-data": chars(B64, 40, 400).map((data) => ({
    text: `    client-certificate-data: ${data}`,
    secrets: [data],
  })),
  "kubeconfig token": chars(`${ALNUM}._-`, 20, 80).map((token) => ({
    text: `    token: ${token}`,
    secrets: [token],
  })),
  "redis URL without user": fc.tuple(password, host).map(([pw, h]) => ({
    text: `redis://:${pw}@${h}:6379/0`,
    secrets: [pw],
  })),
  "postgres URL": fc.tuple(chars(ALNUM, 3, 10), password, host).map(([user, pw, h]) => ({
    text: `postgres://${user}:${pw}@${h}:5432/shop?sslmode=disable`,
    secrets: [pw],
  })),
  "YAML block scalar under a secret key": fc
    .tuple(
      fc.constantFrom("password", "db_password", "apiToken", "client_secret"),
      fc.array(password, { minLength: 1, maxLength: 4 }),
    )
    .map(([key, lines]) => ({
      text: `data:\n  ${key}: |\n${lines.map((l) => `    ${l}`).join("\n")}\n  other: value`,
      secrets: lines,
    })),
  "PGP private key block": chars(B64, 40, 300).map((body) => ({
    text: `-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n${body}\n=abcd\n-----END PGP PRIVATE KEY BLOCK-----`,
    secrets: [body.slice(0, 30)],
  })),
  "Azure storage AccountKey": chars(B64, 86, 86).map((key) => ({
    text: `DefaultEndpointsProtocol=https;AccountName=shopdata;AccountKey=${key}==;EndpointSuffix=core.windows.net`,
    secrets: [key],
  })),
  "aws_secret_access_key followed by spaces": awsSecret.map((secret) => ({
    text: `aws_secret_access_key    ${secret}`,
    secrets: [secret],
  })),
  "AWS secret under an innocent name": awsSecret.map((secret) => ({
    text: `S3_CREDS_NOTE="key ${secret}"`,
    secrets: [secret],
  })),
  "Slack refresh token": chars(`${ALNUM}-`, 30, 120).map((rest) => ({
    text: `refresh_with xoxe-1-${rest}`,
    secrets: [rest],
  })),
};

// Surrounding text: arbitrary printable text and Unicode, kept apart from the secret by a separator.
const surrounding = fc.string({ unit: "grapheme", maxLength: 60 });
const separator = fc.constantFrom(" ", "\n", "\t", " (", ": ", '"', "'", ", ", "\n\n");

describe("redaction of every known format", () => {
  for (const [name, format] of Object.entries(FORMATS)) {
    it(`a generated ${name} embedded in random text never survives`, () => {
      fc.assert(
        fc.property(
          format,
          surrounding,
          surrounding,
          separator,
          separator,
          (sample, before, after, s1, s2) => {
            const text = `${before}${s1}${sample.text}${s2}${after}`;
            const out = redactText(text);
            for (const secret of sample.secrets) expect(out).not.toContain(secret);
            expect(redactText(out)).toBe(out);
          },
        ),
        { numRuns: 200 },
      );
    });
  }

  it("catches an AWS secret in an env var with an innocent name, in an object", () => {
    const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const env = redactValue([{ name: "S3_CREDS_NOTE", value: `key ${secret}` }]);
    expect(JSON.stringify(env)).not.toContain(secret);
  });

  it("blanks ConfigMap entries named like secret files, whatever they hold", () => {
    const configMap = redactValue({
      kind: "ConfigMap",
      data: {
        "password.txt": "correct horse battery staple",
        "credentials.json": '{"user":"svc","pw":"x9"}',
        "app.properties": "log.level=info",
      },
    });
    expect(configMap.data["password.txt"]).toBe("[redacted]");
    expect(configMap.data["credentials.json"]).toBe("[redacted]");
    expect(configMap.data["app.properties"]).toBe("log.level=info");
  });

  it("keeps ordinary Kubernetes text readable", () => {
    const text = [
      "image: ghcr.io/example/checkout:1.4.2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
      "uid: 4f9c2b1e-8d7a-4c3b-9e2f-1a2b3c4d5e6f",
      "commit 3f786850e387550fdab836ed7e6dc881de23001b",
      "at io.grpc.internal.ClientCallImpl.startInternal(ClientCallImpl.java:312)",
      "volume /var/lib/kubelet/pods/4f9c2b1e/volumes/kubernetes.io~projected",
      "Back-off restarting failed container checkout in pod checkout-7d9f (exit code 1)",
      "the api_token was rotated yesterday",
    ].join("\n");
    expect(redactText(text)).toBe(text);
  });

  it("takes linear time on long attacker-written runs (no quadratic backtracking)", () => {
    const unit = fc
      .array(
        fc.constantFrom(
          "A",
          "a",
          "7",
          "/",
          "+",
          "_",
          "-",
          ".",
          ":",
          "=",
          "@",
          "//",
          "password",
          "token",
          "key",
          "eyJ",
          "a://",
          "aws_secret_access_key",
          "LS0t",
          " ",
        ),
        { minLength: 1, maxLength: 4 },
      )
      .map((parts) => parts.join(""));
    fc.assert(
      fc.property(unit, (piece) => {
        const growth = growthOnFourfoldInput(
          (size) => redactText(piece.repeat(Math.ceil(size / piece.length))),
          25_000,
        );
        // Linear is about 4; quadratic backtracking would be about 16.
        expect(growth).toBeLessThan(12);
      }),
      { numRuns: 25 },
    );
  });
});
