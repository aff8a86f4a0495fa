/**
 * The API server's warnings (`Warning: 299 - "text"` response headers, RFC
 * 7234 form), e.g. Pod Security in warn mode or a deprecated field. Node joins
 * repeated headers with ", ", so each quoted text is taken on its own.
 */
export function parseWarnings(header: string | string[] | undefined): string[] {
  if (header === undefined) return [];
  const joined = Array.isArray(header) ? header.join(", ") : header;
  const warnings: string[] = [];
  for (const match of joined.matchAll(/\d{3} [^ ]+ "((?:[^"\\]|\\.)*)"/g)) {
    warnings.push(match[1]!.replace(/\\(.)/g, "$1"));
  }
  return warnings;
}
