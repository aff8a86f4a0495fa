/**
 * Secret redaction for anything Deputy shows to a person, a model or a log:
 * cluster text (logs, events, annotations, env values, ConfigMaps, kubeconfigs)
 * can carry credentials by accident. Two kinds of rules:
 * - shape rules find known credential formats wherever they appear, whatever
 *   the key or sentence around them (an AWS secret under `S3_CREDS_NOTE` is
 *   still an AWS secret);
 * - structural rules find values by where they sit: secret-looking keys in
 *   YAML, JSON, env and `key=value` text, kubeconfig fields, connection-string
 *   passwords, YAML block scalars.
 * Patterns err on the side of over-redaction: a hidden harmless value costs
 * little, a leaked token costs a lot. Every rule leaves already-redacted text
 * unchanged, so redacting twice gives the same text (the audit chain relies on it).
 */
export const REDACTED = "[redacted]";

/** Words that make a key secret-looking (matched at the end of a key, any case). */
const SECRET_WORDS =
  "pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|account[_-]?key|shared[_-]?access[_-]?key|credentials?|client[_-]?secret|session[_-]?id|signing[_-]?key|key[_-]?data|cert(?:ificate)?[_-]?data|dsn";

/** Key names whose values are secret whatever they look like. */
const SENSITIVE_KEY = new RegExp(`(${SECRET_WORDS}|auth(?:orization)?|cookie)$`, "i");

/** Key names that merely contain a sensitive word but are harmless labels. */
const HARMLESS_KEY =
  /^(secretKeyRef|secretRef|secretName|tokenExpirationSeconds|automountServiceAccountToken|expirationSeconds)$/i;

type Replacer = (match: string, ...groups: string[]) => string;

interface Rule {
  name: string;
  pattern: RegExp;
  replace: string | Replacer;
}

/** Base64 alphabet boundaries: a shape must not be a slice of a longer blob. */
const B64 = "A-Za-z0-9+/";

/**
 * Known credential formats, found by shape alone. Sources: the providers'
 * documented formats, as collected by the gitleaks and secretlint rule sets.
 */
const SHAPE_RULES: readonly Rule[] = [
  {
    // PEM (RSA, EC, OPENSSH, ENCRYPTED, PKCS#8) and PGP private key blocks, to the end if unterminated.
    name: "private-key",
    pattern: /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY( BLOCK)?-----[\s\S]*?(?:-----END \1PRIVATE KEY\2-----|$)/g,
    replace: "[redacted private key]",
  },
  {
    // A PEM block base64-encoded once more, as in kubeconfig `client-key-data` or Secret data.
    name: "base64-pem",
    pattern: /LS0tLS1CRUdJTi[A-Za-z0-9+/=]*/g,
    replace: "[redacted private key]",
  },
  {
    name: "jwt",
    // Starts only where a run of token characters starts: "eyJ-eyJ-eyJ…" is one attempt, not one per
    // "eyJ" (each would rescan the rest of the run: quadratic on attacker-written text).
    pattern: /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g,
    replace: "[redacted jwt]",
  },
  {
    name: "well-known-token",
    pattern: new RegExp(
      "\\b(?:" +
        [
          "xox[a-z](?:\\.xox[a-z])?-[A-Za-z0-9-]{10,}", // Slack bot, user, app, refresh (xoxe-) and rotating tokens
          "xapp-[A-Za-z0-9-]{10,}",
          "hooks\\.slack\\.com/(?:services|workflows)/[A-Za-z0-9/_-]{10,}",
          "gh[pousr]_[A-Za-z0-9]{30,}",
          "github_pat_[A-Za-z0-9_]{30,}",
          "glpat-[A-Za-z0-9_-]{20,}",
          "(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}",
          "AIza[0-9A-Za-z_-]{35}",
          "ya29\\.[0-9A-Za-z_-]{20,}",
          "sk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}",
          "(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}",
          "SG\\.[A-Za-z0-9_-]{16,}\\.[A-Za-z0-9_-]{16,}",
          "npm_[A-Za-z0-9]{36}",
          "hv[sbr]\\.[A-Za-z0-9_-]{20,}",
          "s\\.[A-Za-z0-9]{24}",
          "AGE-SECRET-KEY-1[0-9A-Z]{58}",
        ].join("|") +
        ")",
      "g",
    ),
    replace: "[redacted token]",
  },
  {
    // Azure storage account keys: 64 random bytes, base64.
    name: "azure-storage-key",
    pattern: new RegExp(`(?<![${B64}])[${B64}]{86}==(?![${B64}=])`, "g"),
    replace: "[redacted key]",
  },
  {
    // AWS secret access keys: 40 characters of base64 with upper, lower and digits, on their own.
    // Paths (leading or doubled slash) are left alone.
    name: "aws-secret-shape",
    pattern: new RegExp(
      `(?<![${B64}=])(?!/)(?![${B64}]*//)(?=[${B64}]*[A-Z])(?=[${B64}]*[a-z])(?=[${B64}]*[0-9])[${B64}]{40}(?![${B64}=])`,
      "g",
    ),
    replace: "[redacted key]",
  },
];

/** A YAML key line opening a block scalar (`password: |`), with its indentation. */
const BLOCK_SCALAR_KEY =
  /^([ \t]*)(?:- )?["']?([A-Za-z0-9_./-]+)["']?[ \t]*:[ \t]*[|>][-+0-9]*[ \t]*(?:#.*)?$/;

/** Lines of a block scalar under a secret-looking key become one marker each. */
function redactBlockScalars(text: string): string {
  if (!/:[ \t]*[|>]/.test(text)) return text;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const opener = BLOCK_SCALAR_KEY.exec(lines[i]!);
    if (!opener || !SENSITIVE_KEY_ANYWHERE.test(opener[2]!) || HARMLESS_KEY.test(opener[2]!)) continue;
    const indent = opener[1]!.replace(/\t/g, "  ").length;
    let j = i + 1;
    for (; j < lines.length; j++) {
      const line = lines[j]!;
      if (line.trim() === "") continue;
      const lineIndent = /^[ \t]*/.exec(line)![0].replace(/\t/g, "  ").length;
      if (lineIndent <= indent) break;
      lines[j] =
        line.trim() === REDACTED
          ? line
          : `${line.slice(0, line.length - line.trimStart().length)}${REDACTED}`;
    }
    i = j - 1;
  }
  return lines.join("\n");
}

/** A secret word anywhere in a key (`password_file`, `tokenValue`): for block scalars and kubeconfig keys. */
const SENSITIVE_KEY_ANYWHERE = new RegExp(`(${SECRET_WORDS})`, "i");

const STRUCTURAL_RULES: readonly Rule[] = [
  {
    // scheme://user:password@host and scheme://:password@host; passwords may hold "/" and ":".
    name: "url-credentials",
    // Bounded lengths keep long attacker-written runs linear.
    pattern: /\b([a-z][a-z0-9+.-]{0,30}:\/\/[^\s:/@'"<>]{0,256}):([^\s@'"<>]{1,512})@/gi,
    replace: (_m, prefix: string) => `${prefix}:${REDACTED}@`,
  },
  {
    name: "bearer",
    pattern: /\b(bearer|basic)(\s+)([A-Za-z0-9._~+/=-]{8,})/gi,
    // Prose such as "basic configuration" is left alone: credentials carry digits or symbols.
    replace: (match: string, scheme: string, space: string, credential: string) =>
      /^[A-Za-z]{1,19}$/.test(credential) ? match : `${scheme}${space}${REDACTED}`,
  },
  {
    // key=value, key: value, "key": "value", --key=value, Password=x; (ADO.NET / Azure connection strings)
    name: "key-value",
    pattern: new RegExp(
      // The key starts where a token starts and is at most ~150 characters long: attacker-controlled
      // text with long runs of key characters must cost linear time, not quadratic.
      `(?<![A-Za-z0-9_.-])((?:[A-Za-z0-9_.-]{0,64}?)(?:${SECRET_WORDS})[A-Za-z0-9_.-]{0,64}["']?)([ \\t]*[:=][ \\t]*["']?)([^\\s"',;&)}\\]]{3,})`,
      "gi",
    ),
    replace: (match: string, key: string, sep: string, value: string) =>
      // "[redacted…]" is already safe; "<from secret …>" and "<none>" are Deputy's own placeholders;
      // "|" and ">" open a block scalar, handled on its own.
      value.startsWith("[redacted") ||
      value.startsWith("<") ||
      /^[|>][-+0-9]*$/.test(value) ||
      HARMLESS_KEY.test(key.replace(/["']/g, ""))
        ? match
        : `${key}${sep}${REDACTED}`,
  },
  {
    // Identifier-style keys followed by spaces, as in `aws_secret_access_key   wJalr…` (ini, CLI output).
    // Prose words are left alone: the value must carry an upper-case letter, a digit or a symbol.
    name: "key-space-value",
    pattern: new RegExp(
      `(?<![A-Za-z0-9_-])([A-Za-z0-9]{1,32}(?:[_-][A-Za-z0-9]{1,32}){0,6}[_-](?:${SECRET_WORDS}))([ \\t]+)([A-Za-z0-9/+=._~-]{8,})`,
      "gi",
    ),
    replace: (match: string, key: string, space: string, value: string) =>
      /^[a-z]+$/.test(value) ? match : `${key}${space}${REDACTED}`,
  },
];

function applyRules(text: string, rules: readonly Rule[]): string {
  let result = text;
  for (const rule of rules) {
    result =
      typeof rule.replace === "string"
        ? result.replace(rule.pattern, rule.replace)
        : result.replace(rule.pattern, rule.replace as (substring: string, ...args: string[]) => string);
  }
  return result;
}

/**
 * Redact secrets in free text: known formats by shape first (so a key name
 * around them cannot hide them), then block scalars and key/value structure.
 */
export function redactText(text: string): string {
  return applyRules(redactBlockScalars(applyRules(text, SHAPE_RULES)), STRUCTURAL_RULES);
}

/**
 * Whether a key's value is secret by name: `DB_PASSWORD`, `client-key-data`,
 * and ConfigMap entries named like files (`password.txt`, `credentials.json`).
 */
export function isSensitiveKey(key: string): boolean {
  const base = key.replace(/\.(?:txt|json|ya?ml|ini|conf|cfg|env|properties|toml|pem|key)$/i, "");
  return !HARMLESS_KEY.test(key) && SENSITIVE_KEY.test(base);
}

/**
 * Redact a JSON-like value: strings under sensitive keys are replaced whole,
 * every other string is scanned with redactText. Returns a new value.
 */
export function redactValue<T>(value: T): T {
  return redactAny(value, undefined, 0) as T;
}

function redactAny(value: unknown, key: string | undefined, depth: number): unknown {
  if (depth > 64) return "[too deep]";
  if (typeof value === "string") {
    if (key !== undefined && isSensitiveKey(key) && value.length > 0) return REDACTED;
    return redactText(value);
  }
  if (Array.isArray(value)) return value.map((item) => redactAny(item, undefined, depth + 1));
  if (value !== null && typeof value === "object") {
    if (isEnvVar(value)) return redactEnvVar(value);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactAny(v, k, depth + 1);
    return out;
  }
  return value;
}

export interface EnvVarLike {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name?: string; key?: string; optional?: boolean };
    configMapKeyRef?: { name?: string; key?: string };
    fieldRef?: { fieldPath?: string };
    resourceFieldRef?: { resource?: string; containerName?: string };
  };
}

function isEnvVar(value: object): value is EnvVarLike {
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  return (
    typeof record.name === "string" &&
    keys.every((k) => k === "name" || k === "value" || k === "valueFrom") &&
    (typeof record.value === "string" || (typeof record.valueFrom === "object" && record.valueFrom !== null))
  );
}

/** An env var as a person should see it: secretKeyRef values become references, never values. */
export function redactEnvVar(env: EnvVarLike): EnvVarLike {
  if (env.valueFrom) return { name: env.name, valueFrom: env.valueFrom };
  if (env.value === undefined) return { name: env.name };
  return { name: env.name, value: isSensitiveKey(env.name) ? REDACTED : redactText(env.value) };
}

/** One-line rendering of an env var, e.g. `DB_PASSWORD=<secret shop/db-creds key password>`. */
export function describeEnvVar(env: EnvVarLike, namespace?: string): string {
  const from = env.valueFrom;
  if (from?.secretKeyRef) {
    const ref = from.secretKeyRef;
    const where = namespace ? `${namespace}/${ref.name ?? "?"}` : (ref.name ?? "?");
    return `${env.name}=<from secret ${where} key ${ref.key ?? "?"}>`;
  }
  if (from?.configMapKeyRef) {
    return `${env.name}=<from configmap ${from.configMapKeyRef.name ?? "?"} key ${from.configMapKeyRef.key ?? "?"}>`;
  }
  if (from?.fieldRef) return `${env.name}=<field ${from.fieldRef.fieldPath ?? "?"}>`;
  if (from?.resourceFieldRef) return `${env.name}=<resource ${from.resourceFieldRef.resource ?? "?"}>`;
  const safe = redactEnvVar(env);
  return `${env.name}=${safe.value ?? ""}`;
}
