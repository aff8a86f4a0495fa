/**
 * Small, pure formatting helpers shared by the read tools and analysers:
 * kubectl-style ages and tables, and `safe()` for the few cluster values that
 * appear in Deputy's own sentences (outside the untrusted-data fence).
 */

/** Keep only characters that cannot carry instructions (names, reasons, images, quantities). */
export function safe(value: string | number | undefined | null, max = 120): string {
  if (value === undefined || value === null) return "";
  const text = String(value).replace(/[^A-Za-z0-9._:/@+=,-]/g, "_");
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** "5s", "12m", "3h4m", "2d5h", "400d" as kubectl shows ages. */
export function age(timestamp: string | undefined, now: number = Date.now()): string {
  if (!timestamp) return "<unknown>";
  const then = Date.parse(timestamp);
  if (Number.isNaN(then)) return "<unknown>";
  const seconds = Math.max(0, Math.floor((now - then) / 1000));
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 && hours < 10 ? `${hours}h${minutes % 60}m` : `${hours}h`;
  const days = Math.floor(hours / 24);
  return days < 10 && hours % 24 ? `${days}d${hours % 24}h` : `${days}d`;
}

/** A left-aligned plain-text table, kubectl style. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count.toLocaleString("en-US")} ${count === 1 ? one : many}`;
}

/** What a container exit code usually means. */
export function exitCodeMeaning(code: number | undefined, signal?: number): string {
  if (code === undefined) return "";
  if (code === 0) return "completed successfully";
  if (code === 137) return "killed by SIGKILL: out of memory or a failed liveness probe";
  if (code === 139) return "segmentation fault (SIGSEGV)";
  if (code === 143) return "terminated by SIGTERM";
  if (code === 126) return "command not executable";
  if (code === 127) return "command not found";
  if (code === 1) return "application error";
  if (code > 128) return `killed by signal ${signal ?? code - 128}`;
  return "non-zero exit";
}

/**
 * An event message on one line, without the kubelet's "in pod NAME_NAMESPACE(UID)"
 * that repeats the object the event is about, and bounded.
 */
export function eventMessage(message: string | undefined, max = 300): string {
  return (message ?? "")
    .replace(/\s+/g, " ")
    .replace(/ in pod \S+_[a-z0-9-]+\([0-9a-f-]{36}\)/, "")
    .slice(0, max);
}
