import fc from "fast-check";
import { stringify } from "yaml";
import { describe, expect, it } from "vitest";
import { growthOnFourfoldInput } from "../helpers/growth.ts";
import { redactArgs, redactText, redactValue } from "../../core/untrusted/redact.ts";

/**
 * Every credential shape from the leak report as a generator: the command line or text that
 * carries it, the same as an argv (a container's command and args), and the parts that must not
 * survive. Each is embedded in four surroundings: a log line of random text, an args list
 * redacted as data, the list written as YAML, and as JSON text. Random values, so nothing passes
 * because an example happens to be on a list.
 */
const chars = (alphabet: string, min: number, max: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...alphabet), minLength: min, maxLength: max });
const LOWER = "abcdefghijklmnopqrstuvwxyz";
const ALNUM = `ABCDEFGHIJKLMNOPQRSTUVWXYZ${LOWER}0123456789`;
const HEX = "0123456789abcdef";
const B64 = `${ALNUM}+/`;
// A password: starts with a letter, carries a digit, symbols allowed.
const password = fc
  .tuple(chars(ALNUM, 6, 20), chars("0123456789", 1, 2), chars("!#%*_+.~/=@^", 0, 3))
  .map(([a, d, s]) => `P${a}${d}${s}`);
const phrase = fc.array(chars(LOWER, 3, 9), { minLength: 2, maxLength: 5 }).map((words) => words.join(" "));

interface Shape {
  /** The command line or text as it would appear in a log. */
  line: string;
  /** The same as an argument list. */
  argv: string[];
  secrets: string[];
}

const SHAPES: Record<string, fc.Arbitrary<Shape>> = {
  "a secret-named flag and its value": fc
    .tuple(
      fc.constantFrom(
        "-password",
        "--password",
        "--token",
        "--db-password",
        "-api-key",
        "--client-secret",
        "--pass",
      ),
      password,
    )
    .map(([flag, pw]) => ({ line: `app ${flag} ${pw} -v`, argv: ["app", flag, pw, "-v"], secrets: [pw] })),
  "a secret-named flag with a pass-phrase": fc
    .tuple(fc.constantFrom("--password", "-passphrase", "--secret"), phrase)
    .map(([flag, words]) => ({
      line: `app ${flag} "${words}"`,
      argv: ["app", flag, words],
      secrets: [words],
    })),
  "mysql -pSECRET": password.map((pw) => ({
    line: `mysql -h db -uroot -p${pw} shop`,
    argv: ["mysql", "-h", "db", "-uroot", `-p${pw}`, "shop"],
    secrets: [pw],
  })),
  "docker login -p": password.map((pw) => ({
    line: `docker login -u bob -p ${pw} registry.example`,
    argv: ["docker", "login", "-u", "bob", "-p", pw, "registry.example"],
    secrets: [pw],
  })),
  "curl -u user:pass": fc.tuple(chars(LOWER, 3, 8), password).map(([user, pw]) => ({
    line: `curl -s -u ${user}:${pw} https://api.example/v1`,
    argv: ["curl", "-s", "-u", `${user}:${pw}`, "https://api.example/v1"],
    secrets: [pw],
  })),
  "redis-cli -a": password.map((pw) => ({
    line: `redis-cli -h redis -a ${pw} ping`,
    argv: ["redis-cli", "-h", "redis", "-a", pw, "ping"],
    secrets: [pw],
  })),
  "vault login TOKEN": fc.tuple(chars(ALNUM, 8, 30), fc.boolean()).map(([token, flag]) => ({
    line: `vault login ${flag ? "--token " : ""}t${token}`,
    argv: ["vault", "login", ...(flag ? ["--token"] : []), `t${token}`],
    secrets: [`t${token}`],
  })),
  "Authorization with any scheme": fc
    .tuple(
      fc.constantFrom("Token", "ApiKey", "SSWS", "Digest", "Custom-Scheme", "Bearer"),
      chars(`${ALNUM}._~+/=-`, 12, 60),
    )
    .map(([scheme, credential]) => ({
      line: `Authorization: ${scheme} x${credential}`,
      argv: ["curl", "-H", `Authorization: ${scheme} x${credential}`, "https://api.example"],
      secrets: [`x${credential}`],
    })),
  "a kubeadm bootstrap token": fc
    .tuple(chars(`${LOWER}0123456789`, 6, 6), chars(`${LOWER}0123456789`, 16, 16))
    .map(([id, secret]) => ({
      line: `kubeadm join 10.0.0.1:6443 --token ${id}.${secret}`,
      argv: ["kubeadm", "join", "10.0.0.1:6443", "--token", `${id}.${secret}`],
      secrets: [secret],
    })),
  "a dockerconfig auth": chars(B64, 12, 80).map((auth) => ({
    line: `{"auths":{"registry.example":{"auth":"Q${auth}="}}}`,
    argv: [
      "sh",
      "-c",
      `echo '{"auths":{"registry.example":{"auth":"Q${auth}="}}}' > /root/.docker/config.json`,
    ],
    secrets: [`Q${auth}=`],
  })),
  "a quoted pass-phrase after a secret key": fc
    .tuple(
      fc.constantFrom("password", "PASSWORD", "db_passphrase", "secret"),
      fc.constantFrom(" = ", "=", ": "),
      fc.constantFrom('"', "'"),
      phrase,
    )
    .map(([key, sep, quote, words]) => ({
      line: `${key}${sep}${quote}${words}${quote}`,
      argv: ["sh", "-c", `${key}${sep}${quote}${words}${quote} exec app`],
      secrets: [words],
    })),
  ...vendorShapes({
    "a Hugging Face token": chars(ALNUM, 34, 34).map((t) => [`hf_${t}`, t]),
    "a Datadog API key": chars(HEX, 32, 32).map((t) => [`DD_API_KEY=${t}`, t]),
    "a Datadog application key": chars(HEX, 40, 40).map((t) => [`datadog application key ${t}`, t]),
    "a Mailgun key": chars(HEX, 32, 32).map((t) => [`key-${t}`, t]),
    "a Twilio API key SID": chars(HEX, 32, 32).map((t) => [`SK${t}`, t]),
    "a Twilio account SID with its auth token": fc
      .tuple(chars(HEX, 32, 32), chars(HEX, 32, 32))
      .map(([sid, t]) => [`AC${sid}:${t}`, t]),
    "a PyPI token": chars(`${ALNUM}_-`, 60, 120).map((t) => [`pypi-AgEIcHlwaS5vcmc${t}`, t]),
    "a DigitalOcean token": fc
      .tuple(fc.constantFrom("dop", "doo", "dor"), chars(HEX, 64, 64))
      .map(([kind, t]) => [`${kind}_v1_${t}`, t]),
    "a Shopify token": fc
      .tuple(fc.constantFrom("shpat", "shpss", "shpca", "shppa"), chars(HEX, 32, 32))
      .map(([kind, t]) => [`${kind}_${t}`, t]),
    "a Google OAuth client secret": chars(`${ALNUM}_-`, 28, 28).map((t) => [`GOCSPX-${t}`, t]),
    "a Telegram bot token": fc
      .tuple(chars("0123456789", 8, 10), chars(`${ALNUM}_-`, 35, 35))
      .map(([id, t]) => [`${id}:${t}`, t]),
    "a Discord bot token": fc
      .tuple(chars(ALNUM, 24, 24), chars(`${ALNUM}_-`, 6, 6), chars(`${ALNUM}_-`, 27, 27))
      .map(([id, ts, hmac]) => [`M${id}.${ts}.${hmac}`, hmac]),
  }),
};

/** A vendor token on its own: `[text, part that must not survive]`. */
function vendorShapes(
  tokens: Record<string, fc.Arbitrary<[string, string]>>,
): Record<string, fc.Arbitrary<Shape>> {
  return Object.fromEntries(
    Object.entries(tokens).map(([name, token]) => [
      name,
      token.map(([text, secret]) => ({
        line: `using ${text} now`,
        argv: ["app", "--header", `X-Key ${text}`],
        secrets: [secret],
      })),
    ]),
  );
}

// Surrounding text: arbitrary printable text and Unicode, kept apart from the shape by a separator.
const surrounding = fc.string({ unit: "grapheme", maxLength: 60 });
const separator = fc.constantFrom(" ", "\n", "\t", ": ", ", ", "\n\n", " | ");

function survivors(text: string, secrets: readonly string[]): string[] {
  return secrets.filter((secret) => text.includes(secret));
}

describe("redaction of every reported shape, generated", () => {
  for (const [name, shape] of Object.entries(SHAPES)) {
    it(`${name}: never survives in a log line, an args list, YAML or JSON`, () => {
      fc.assert(
        fc.property(
          shape,
          surrounding,
          surrounding,
          separator,
          separator,
          (sample, before, after, s1, s2) => {
            const line = redactText(`${before}${s1}${sample.line}${s2}${after}`);
            expect(survivors(line, sample.secrets)).toEqual([]);
            expect(redactText(line)).toBe(line);

            const argv = redactArgs(sample.argv);
            expect(survivors(JSON.stringify(argv), sample.secrets)).toEqual([]);
            const container = redactValue({
              name: "app",
              command: sample.argv.slice(0, 1),
              args: sample.argv.slice(1),
            });
            expect(survivors(JSON.stringify(container), sample.secrets)).toEqual([]);

            const yaml = redactText(stringify({ containers: [{ name: "app", args: sample.argv }] }));
            expect(survivors(yaml, sample.secrets)).toEqual([]);

            const json = redactText(
              JSON.stringify({ args: sample.argv, log: `${before}${s1}${sample.line}` }, null, 1),
            );
            expect(survivors(json, sample.secrets)).toEqual([]);
          },
        ),
        { numRuns: 150 },
      );
    });
  }

  it("takes linear time on long attacker-written runs of the new shapes", () => {
    const unit = fc
      .array(
        fc.constantFrom(
          "-password",
          "--token",
          " ",
          "\n",
          "- ",
          '"',
          "'",
          ",",
          "=",
          ":",
          "a",
          "7",
          "login",
          "vault ",
          "-p",
          "mysql ",
          "redis-cli ",
          "-a ",
          "curl ",
          "-u ",
          "Authorization: ",
          '"auth":',
          "password: ",
          "dd ",
          "abcdef.",
          "0123456789abcdef",
          "\\t",
        ),
        { minLength: 1, maxLength: 5 },
      )
      .map((parts) => parts.join(""));
    // Growth from n to 4n, measured again once when it looks quadratic: a load spike passes, a real one stays.
    const growth = (work: (size: number) => void): number => {
      const first = growthOnFourfoldInput(work, 25_000);
      return first < 12 ? first : Math.min(first, growthOnFourfoldInput(work, 25_000));
    };
    fc.assert(
      fc.property(unit, (piece) => {
        // Linear is about 4; quadratic backtracking would be about 16.
        expect(growth((size) => redactText(piece.repeat(Math.ceil(size / piece.length))))).toBeLessThan(12);
      }),
      { numRuns: 30 },
    );
  });
});
