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
  "pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey|app(?:lication)?[_-]?key|access[_-]?key|private[_-]?key|account[_-]?key|shared[_-]?access[_-]?key|credentials?|client[_-]?secret|session[_-]?id|signing[_-]?key|key[_-]?data|cert(?:ificate)?[_-]?data|dsn";

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

/**
 * Where a word starts and ends, also in JSON-escaped text: in `"\nmysql -p…"` the `n` of the
 * escape is not part of the word. (A character class preceded by a backslash does not count.)
 */
const WORD_START = String.raw`(?<!(?<!\\)[A-Za-z0-9_])`;
const WORD_END = String.raw`(?:(?![A-Za-z0-9_])|(?=\\[nrtfvb]))`;
/** Not after a token character, unless that character ends a backslash escape. */
const notAfter = (chars: string): string => String.raw`(?<!(?<!\\)[${chars}])`;

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
    pattern: new RegExp(
      String.raw`${notAfter("A-Za-z0-9_-")}eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*`,
      "g",
    ),
    replace: "[redacted jwt]",
  },
  {
    name: "well-known-token",
    pattern: new RegExp(
      `${WORD_START}(?:` +
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
          "hf_[A-Za-z0-9]{30,}", // Hugging Face user access tokens
          "api_org_[A-Za-z0-9]{30,}", // Hugging Face organisation tokens
          "key-[0-9a-zA-Z]{32}", // Mailgun API keys
          "SK[0-9a-fA-F]{32}", // Twilio API key SIDs
          "pypi-[A-Za-z0-9_-]{50,}", // PyPI upload tokens
          "do[opr]_v1_[a-f0-9]{64}", // DigitalOcean personal, OAuth and refresh tokens
          "shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}", // Shopify access, shared-secret, custom and private app tokens
          "GOCSPX-[A-Za-z0-9_-]{24,}", // Google OAuth client secrets
        ].join("|") +
        ")",
      "g",
    ),
    replace: "[redacted token]",
  },
  {
    // Telegram bot tokens: the bot id, a colon, 35 characters.
    name: "telegram-bot-token",
    pattern: new RegExp(
      String.raw`${notAfter("A-Za-z0-9_:-")}\d{8,10}:[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])`,
      "g",
    ),
    replace: "[redacted token]",
  },
  {
    // Discord bot tokens: base64 user id (starting M, N or O), timestamp, HMAC, dot-separated.
    name: "discord-bot-token",
    pattern: new RegExp(
      String.raw`${notAfter("A-Za-z0-9_.-")}[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40}(?![A-Za-z0-9_-])`,
      "g",
    ),
    replace: "[redacted token]",
  },
  {
    // kubeadm bootstrap tokens (`kubeadm join --token abcdef.0123456789abcdef`): over-redacts the odd
    // six-dot-sixteen lower-case word pair, which is cheaper than a join token left in a log.
    name: "kubeadm-bootstrap-token",
    pattern: new RegExp(
      String.raw`${notAfter("A-Za-z0-9_.-")}[a-z0-9]{6}\.[a-z0-9]{16}(?![A-Za-z0-9_.-])`,
      "g",
    ),
    replace: "[redacted token]",
  },
  {
    // Twilio: an account SID with its auth token (`-u AC…:token`, `AC…:token@api.twilio.com`).
    name: "twilio-sid-token",
    pattern: new RegExp(String.raw`${WORD_START}(AC[0-9a-f]{32}):[0-9a-f]{32}(?![0-9a-zA-Z])`, "g"),
    replace: (_m: string, sid: string) => `${sid}:${REDACTED}`,
  },
  {
    // 32 or 40 hex characters close after a vendor's name: Datadog API and application keys,
    // Twilio auth tokens. Bounded distance, so a long line costs linear time.
    name: "vendor-hex-in-context",
    pattern: new RegExp(
      String.raw`(${notAfter("A-Za-z0-9")}(?:datadog|dd|twilio|auth[_ -]?token)(?![A-Za-z])[^\r\n]{0,60}?)${notAfter("A-Za-z0-9")}(?:[a-fA-F0-9]{40}|[a-fA-F0-9]{32})(?![A-Za-z0-9])`,
      "gi",
    ),
    replace: (_m: string, context: string) => `${context}${REDACTED}`,
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

/**
 * One character of an unquoted value. A backslash before t, n, r, f, v or b ends the value: in
 * text that was serialised as JSON (a tool's `-o json`, a structured log line) it is an escaped
 * whitespace, which ends the value in the raw string too, so a match never runs on into the rest
 * of a command (`API_TOKEN=1\tcurl …` keeps its `curl …`). An escaped backslash is one character.
 */
const VALUE_CHAR = String.raw`(?:[^\s"',;&)}\]\\]|\\\\|\\(?![tnrfvb]))`;
/** A quoted value on one line, bounded: `"correct horse battery staple"`, `'a b c'`. */
const DOUBLE_QUOTED = String.raw`"((?:[^"\\\r\n]|\\[^\r\n]){1,1024})"`;
const SINGLE_QUOTED = String.raw`'([^'\r\n]{1,1024})'`;
/** A double-quoted value inside JSON-escaped text: `\"a b c\"`. */
const ESCAPED_QUOTED = String.raw`\\"((?:(?!\\")[^\r\n]){1,1024})\\"`;
/** A key naming a secret: starts where a token starts, bounded so long key-like runs stay linear. */
const SECRET_KEY_NAME = String.raw`((?:[A-Za-z0-9_.-]{0,64}?)(?:${SECRET_WORDS})[A-Za-z0-9_.-]{0,64}(?:\\?["'])?)`;
const SECRET_KEY = `${notAfter("A-Za-z0-9_.-")}${SECRET_KEY_NAME}`;

/** Values that stay readable: already redacted, Deputy's placeholders, block-scalar openers. */
function keepsValue(value: string): boolean {
  return value.startsWith("[redacted") || value.startsWith("<") || /^[|>][-+0-9]*$/.test(value);
}

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
    // `Authorization: <any scheme> <credentials>` (Token, ApiKey, Digest, AWS4-HMAC-SHA256…): the
    // scheme stays readable; the rest goes, to the closing quote if the value is quoted, else to
    // the end of the line.
    name: "authorization-header",
    // The match ends where the value ends (a closing quote, or the line), so a second header on
    // the same line is still found.
    pattern: new RegExp(
      String.raw`${notAfter("A-Za-z0-9_-")}((?:proxy-)?authorization(?:\\?["'])?[ \t]*[:=][ \t]*)(?:"((?:[^"\\\r\n]|\\[^\r\n])*)|\\"((?:(?!\\")[^\r\n])*)|'([^'\r\n]*)|((?:[^\r\n\\]|\\\\|\\(?![nrt]))*))`,
      "gi",
    ),
    replace: (
      match: string,
      key: string,
      doubleQuoted: string | undefined,
      escapedQuoted: string | undefined,
      singleQuoted: string | undefined,
      bare: string | undefined,
    ) => {
      const quote =
        doubleQuoted !== undefined
          ? '"'
          : escapedQuoted !== undefined
            ? '\\"'
            : singleQuoted !== undefined
              ? "'"
              : "";
      const rest = doubleQuoted ?? escapedQuoted ?? singleQuoted ?? bare ?? "";
      const scheme = /^[A-Za-z][A-Za-z0-9_.-]{0,30}[ \t]+(?=\S)/.exec(rest)?.[0] ?? "";
      const value = rest.slice(scheme.length).trim();
      if (value.length === 0 || keepsValue(value)) return match;
      return `${key}${quote}${scheme}${REDACTED}${match.slice(key.length + quote.length + rest.length)}`;
    },
  },
  {
    // `"auth": "dXNlcjpwYXNz"` (a dockerconfig inside text), `REDISCLI_AUTH=…`, `basic_auth: …`.
    // A key that merely starts with "auth" (author, authentication) is left alone.
    name: "auth-key",
    pattern: new RegExp(
      String.raw`${notAfter("A-Za-z0-9_.-")}((?:[A-Za-z0-9_.-]{0,64}[_.-])?auth(?:\\?["'])?)([ \t]*[:=][ \t]*(?:\\?["'])?)(${VALUE_CHAR}{3,})`,
      "gi",
    ),
    replace: (match: string, key: string, sep: string, value: string) =>
      keepsValue(value) ? match : `${key}${sep}${REDACTED}`,
  },
  {
    // A YAML line `password: correct horse battery staple`: a plain scalar runs to the end of the line.
    name: "yaml-plain-secret",
    pattern: new RegExp(
      String.raw`^([ \t]*(?:-[ \t]+)?["']?)${SECRET_KEY_NAME}([ \t]*:[ \t]+)([^\s"'#|>][^\r\n]*[^\s])`,
      "gim",
    ),
    replace: (match: string, lead: string, key: string, sep: string, value: string) =>
      keepsValue(value) || !value.includes(" ") || HARMLESS_KEY.test(key.replace(/\\?["']/g, ""))
        ? match
        : `${lead}${key}${sep}${REDACTED}`,
  },
  {
    // key=value, key: value, "key": "value", --key=value, Password=x; (ADO.NET / Azure connection
    // strings), and quoted pass-phrases with spaces (`PASSWORD='a b c'`).
    name: "key-value",
    pattern: new RegExp(
      `${SECRET_KEY}([ \\t]*[:=][ \\t]*)(?:${DOUBLE_QUOTED}|${SINGLE_QUOTED}|${ESCAPED_QUOTED}|(["']?)(${VALUE_CHAR}{3,}))`,
      "gi",
    ),
    replace: (
      match: string,
      key: string,
      sep: string,
      doubleQuoted: string | undefined,
      singleQuoted: string | undefined,
      escapedQuoted: string | undefined,
      quote: string | undefined,
      bare: string | undefined,
    ) => {
      const value = doubleQuoted ?? singleQuoted ?? escapedQuoted ?? bare ?? "";
      // "[redacted…]" is already safe; "<from secret …>" and "<none>" are Deputy's own placeholders;
      // "|" and ">" open a block scalar, handled on its own.
      if (keepsValue(value) || HARMLESS_KEY.test(key.replace(/\\?["']/g, ""))) return match;
      if (doubleQuoted !== undefined) return `${key}${sep}"${REDACTED}"`;
      if (singleQuoted !== undefined) return `${key}${sep}'${REDACTED}'`;
      if (escapedQuoted !== undefined) return `${key}${sep}\\"${REDACTED}\\"`;
      return `${key}${sep}${quote ?? ""}${REDACTED}`;
    },
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
  {
    // `mysql -pSECRET` (only attached: a separate word after -p is the database name). The tool's
    // name must come shortly before, on the command line or in the same args list.
    name: "mysql-attached-password",
    pattern: new RegExp(
      String.raw`(${WORD_START}(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlcheck|mysqlpump|mysqlslap|mysqlsh|mariadb|mariadb-dump|mariadb-admin)${WORD_END}[\s\S]{0,200}?(?:[\s"',\[]|\\[nrt])-p)(?:${DOUBLE_QUOTED}|${SINGLE_QUOTED}|(${VALUE_CHAR}+))`,
      "g",
    ),
    replace: (match: string, head: string, doubleQuoted?: string, singleQuoted?: string, bare?: string) => {
      const value = doubleQuoted ?? singleQuoted ?? bare ?? "";
      if (keepsValue(value) || isReference(value)) return match;
      if (doubleQuoted !== undefined) return `${head}"${REDACTED}"`;
      if (singleQuoted !== undefined) return `${head}'${REDACTED}'`;
      return `${head}${REDACTED}`;
    },
  },
];

// --- command lines and argument lists ----------------------------------------------------------

/** A flag named like a secret: `-password`, `--token`, `--db-password`, `--api-key`. */
const SECRET_FLAG = new RegExp(`^--?[A-Za-z0-9_.-]{0,40}?(?:${SECRET_WORDS})$`, "i");

const LOGIN = new RegExp(`${WORD_START}login${WORD_END}`);
const REDIS_CLI = new RegExp(`${WORD_START}redis-cli${WORD_END}`);
const CURL = new RegExp(`${WORD_START}curl${WORD_END}`);
const VAULT_LOGIN = new RegExp(String.raw`${WORD_START}(?:vault|bao)(?:[^A-Za-z0-9]|\\[nrt]){1,12}$`);

/** How the word after a flag is secret: whole, or the part after `user:` (`curl -u user:pass`). */
type FlagValue = "whole" | "after-colon";

/**
 * Whether `token` (one word of a command line or one element of an args list) is followed by a
 * secret, given the text just before it (the command it belongs to). Short flags count only with
 * their tool: `-p` after `login` (docker, podman, helm registry), `-a` with redis-cli, `-u` with
 * curl; `vault login X` takes the token as its argument.
 */
function flagValueKind(token: string, before: string): FlagValue | undefined {
  if (SECRET_FLAG.test(token)) return "whole";
  switch (token) {
    case "-p":
      return LOGIN.test(before) ? "whole" : undefined;
    case "-a":
      return REDIS_CLI.test(before) ? "whole" : undefined;
    case "-u":
    case "--user":
      return CURL.test(before) ? "after-colon" : undefined;
    case "login":
      return VAULT_LOGIN.test(before) ? "whole" : undefined;
    default:
      return undefined;
  }
}

/** `$(DB_PASSWORD)` and `${TOKEN}` name a secret without holding it, and stay readable. */
function isReference(value: string): boolean {
  // The closing bracket may be missing: a value is read up to the first `)` or `}`.
  return /^\$(?:\([A-Za-z_][A-Za-z0-9_]*\)?|\{[A-Za-z_][A-Za-z0-9_]*\}?)$/.test(value);
}

/** The replacement for a flag's value, or undefined when it stays. */
function redactFlagValue(value: string, kind: FlagValue, token: string): string | undefined {
  if (value.length === 0 || keepsValue(value) || isReference(value)) return undefined;
  // `vault login -method=userpass …`: a flag or an assignment is not the token.
  if (token === "login" && (value.startsWith("-") || value.includes("="))) return undefined;
  if (kind === "whole") return REDACTED;
  const colon = value.indexOf(":");
  return colon > 0 && !value.slice(colon + 1).startsWith("[redacted")
    ? `${value.slice(0, colon + 1)}${REDACTED}`
    : undefined;
}

/** A flag or `login` as a word of its own, bare or quoted as a list element. */
const FLAG_TOKEN = new RegExp(
  String.raw`${notAfter("A-Za-z0-9_./-")}(\\?["']?)(--?[A-Za-z][A-Za-z0-9_.-]{0,60}|login)\1(?![A-Za-z0-9_.=-])`,
  "g",
);
/** What separates two elements: spaces, a comma (JSON, Python), a new line with a YAML `- `. */
const ELEMENT_GAP = /[ \t]*(?:,[ \t]*)?(?:\r?\n[ \t]*(?:-[ \t]+)?)?/y;
/** Where an unquoted value ends (the escapes as in VALUE_CHAR). */
const VALUE_END = /[\s"',;&|)}\]<>]|\\[tnrfvb]/g;

/**
 * The word after a secret-named flag, wherever the command is written out: one line
 * (`-password Sup3rS3cret!`), a JSON or Python list (`"-password", "Sup3rS3cret!"`), a YAML list or
 * describe output (one element per line). One pass, each character read a bounded number of times.
 */
function redactFlagValues(text: string): string {
  let out = "";
  let copied = 0;
  FLAG_TOKEN.lastIndex = 0;
  for (let match = FLAG_TOKEN.exec(text); match !== null; match = FLAG_TOKEN.exec(text)) {
    const token = match[2]!;
    const kind = flagValueKind(token, text.slice(Math.max(0, match.index - 200), match.index));
    if (kind === undefined) continue;
    ELEMENT_GAP.lastIndex = FLAG_TOKEN.lastIndex;
    const gap = ELEMENT_GAP.exec(text)![0];
    if (gap.length === 0) continue;
    let start = FLAG_TOKEN.lastIndex + gap.length;
    let end: number;
    // A quote, or a quote escaped in JSON text (`\"`), opens a quoted value.
    const quote = text[start] === "\\" && text[start + 1] === '"' ? '\\"' : text[start];
    const close = quote === '"' || quote === "'" || quote === '\\"' ? closingQuote(text, start, quote) : -1;
    if (close > 0) {
      start += quote!.length;
      end = close;
    } else if (gap.includes("\n")) {
      // One element per line (YAML, describe output): the value is the rest of the line.
      end = text.indexOf("\n", start);
      if (end < 0) end = text.length;
      if (text[end - 1] === "\r") end -= 1;
    } else {
      if (quote === '"' || quote === "'") start += 1;
      VALUE_END.lastIndex = start;
      const stop = VALUE_END.exec(text);
      end = stop ? stop.index : text.length;
    }
    const replacement = redactFlagValue(text.slice(start, end), kind, token);
    if (replacement === undefined) continue; // `vault login --token X`: the value may be a flag itself
    out += text.slice(copied, start) + replacement;
    copied = end;
    // A redacted value is not read again. Values never overlap (each ends at the first gap
    // character, and a flag needs a gap after it), so every character is scanned a bounded number of times.
    FLAG_TOKEN.lastIndex = Math.max(FLAG_TOKEN.lastIndex, end);
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/**
 * Where the quote opened at `open` closes, on the same line within 1,024 characters, or -1.
 * Backslash escapes are skipped inside double quotes; `\"` is the quote of JSON-escaped text.
 */
function closingQuote(text: string, open: number, quote = text[open]!): number {
  const limit = Math.min(text.length, open + 1026);
  for (let i = open + quote.length; i < limit; i++) {
    const c = text[i];
    if (c === "\n" || c === "\r") return -1;
    if (quote === '\\"' && text.startsWith(quote, i)) return i > open + quote.length ? i : -1;
    if (c === "\\" && quote !== "'") i++;
    else if (c === quote) return i > open + 1 ? i : -1;
  }
  return -1;
}

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
 * around them cannot hide them), then block scalars, key/value structure and
 * the values of secret-named flags on command lines.
 */
export function redactText(text: string): string {
  return redactFlagValues(applyRules(redactBlockScalars(applyRules(text, SHAPE_RULES)), STRUCTURAL_RULES));
}

/**
 * Redact an argument list (a container's `command` and `args`, an argv): every element as text,
 * and the element after a secret-named flag whole (`["-password", "Sup3rS3cret!"]`), with the same
 * tool-specific short flags as on a command line (`docker login -p`, `redis-cli -a`, `curl -u`,
 * `vault login TOKEN`, `mysql -pSECRET`).
 */
export function redactArgs(list: readonly string[]): string[] {
  const out = list.map((item) => redactText(item));
  for (let i = 0; i + 1 < list.length; i++) {
    const token = list[i]!.trim();
    const before = `${list.slice(Math.max(0, i - 16), i).join(" ")} `;
    const kind = flagValueKind(token, before);
    if (kind === undefined) continue;
    const replacement = redactFlagValue(list[i + 1]!, kind, token);
    if (replacement !== undefined) out[i + 1] = replacement;
  }
  // `mysql -pSECRET` with the tool in an earlier element (`command: [mysql]`, `args: [-pSECRET]`).
  const mysqlAt = list.findIndex((item) => MYSQL_TOOL.test(item));
  if (mysqlAt >= 0) {
    for (let i = mysqlAt + 1; i < list.length; i++) {
      const attached = /^-p(.+)$/s.exec(list[i]!);
      if (attached && !keepsValue(attached[1]!) && !isReference(attached[1]!)) out[i] = `-p${REDACTED}`;
    }
  }
  return out;
}

const MYSQL_TOOL =
  /(?:^|\/)(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlcheck|mysqlpump|mysqlslap|mysqlsh|mariadb|mariadb-dump|mariadb-admin)$/;

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
  if (Array.isArray(value)) {
    if (isStringList(value)) return redactArgs(value);
    return value.map((item) => redactAny(item, undefined, depth + 1));
  }
  if (value !== null && typeof value === "object") {
    if (isEnvVar(value)) return redactEnvVar(value);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactAny(v, k, depth + 1);
    return redactCommandLine(value as Record<string, unknown>, out);
  }
  return value;
}

function isStringList(value: readonly unknown[]): value is string[] {
  return value.every((item) => typeof item === "string");
}

/**
 * A container's `command` and `args` are one argv: `command: [redis-cli]` with `args: [-a, X]`
 * needs the command to know that `-a` takes a password. Redacts them together into `out`, the
 * object's copy with every other field already redacted (the logger's copy or redactValue's).
 */
export function redactCommandLine(
  original: Record<string, unknown>,
  out: Record<string, unknown>,
): Record<string, unknown> {
  const command = Array.isArray(original.command) && isStringList(original.command) ? original.command : [];
  const args = Array.isArray(original.args) && isStringList(original.args) ? original.args : [];
  if (command.length === 0 || args.length === 0) return out;
  const joined = redactArgs([...command, ...args]);
  return { ...out, command: joined.slice(0, command.length), args: joined.slice(command.length) };
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
