/**
 * Secret redaction for anything Deputy shows to a person, a model or a log:
 * cluster text (logs, events, annotations, env values) can carry credentials
 * by accident. Patterns err on the side of over-redaction: a hidden harmless
 * value costs little, a leaked token costs a lot.
 */

export const REDACTED = "[redacted]";

/** Key names whose values are secret whatever they look like. */
const SENSITIVE_KEY =
  /(pass(word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credential|auth(orization)?|session[_-]?id|cookie|signing[_-]?key|client[_-]?secret|dsn)$/i;

/** Key names that merely contain a sensitive word but are harmless labels. */
const HARMLESS_KEY =
  /^(secretKeyRef|secretRef|secretName|tokenExpirationSeconds|automountServiceAccountToken)$/i;

interface Rule {
  name: string;
  pattern: RegExp;
  replace: string | ((match: string, ...groups: string[]) => string);
}

const RULES: readonly Rule[] = [
  {
    name: "private-key",
    pattern: /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(-----END \1PRIVATE KEY-----|$)/g,
    replace: "[redacted private key]",
  },
  {
    name: "jwt",
    pattern: /\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g,
    replace: "[redacted jwt]",
  },
  {
    name: "bearer",
    pattern: /\b(bearer|basic)(\s+)([A-Za-z0-9._~+/=-]{8,})/gi,
    // Prose such as "basic configuration" is left alone: credentials carry digits or symbols.
    replace: (match: string, scheme: string, space: string, credential: string) =>
      /^[A-Za-z]{1,19}$/.test(credential) ? match : `${scheme}${space}${REDACTED}`,
  },
  {
    name: "url-credentials",
    pattern: /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]+):([^\s@/]+)@/gi,
    replace: (_m, prefix: string) => `${prefix}:${REDACTED}@`,
  },
  {
    name: "well-known-token",
    pattern:
      /\b(xox[abposr]-[A-Za-z0-9-]{10,}|xapp-[A-Za-z0-9-]{10,}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|glpat-[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}|sk-(?:ant-)?[A-Za-z0-9_-]{20,}|hv[sbr]\.[A-Za-z0-9_-]{20,}|s\.[A-Za-z0-9]{24})\b/g,
    replace: "[redacted token]",
  },
  {
    // key=value, key: value, "key": "value", --key=value
    name: "key-value",
    pattern:
      /((?:[A-Za-z0-9_.-]*?)(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?|client[_-]?secret|session[_-]?id|signing[_-]?key)[A-Za-z0-9_.-]*["']?)(\s*[:=]\s*["']?)([^\s"',;&)}\]]{3,})/gi,
    replace: (match: string, key: string, sep: string, value: string) =>
      // "[redacted…]" is already safe; "<from secret …>" and "<none>" are Deputy's own placeholders.
      value.startsWith("[redacted") || value.startsWith("<") || HARMLESS_KEY.test(key.replace(/["']/g, ""))
        ? match
        : `${key}${sep}${REDACTED}`,
  },
];

/** Redact token, password, key, bearer, JWT and private-key patterns in free text. */
export function redactText(text: string): string {
  let result = text;
  for (const rule of RULES) {
    if (typeof rule.replace === "string") result = result.replace(rule.pattern, rule.replace);
    else
      result = result.replace(rule.pattern, rule.replace as (substring: string, ...args: string[]) => string);
  }
  return result;
}

export function isSensitiveKey(key: string): boolean {
  return !HARMLESS_KEY.test(key) && SENSITIVE_KEY.test(key);
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
