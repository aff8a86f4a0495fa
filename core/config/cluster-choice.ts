/**
 * Which cluster a message names, when Deputy serves several. A message may
 * name one in three ways, and only these:
 *
 * - `--cluster prod-eu` (or `--cluster=prod-eu`) anywhere, as a word of its own;
 * - a leading `in cluster prod-eu, …` / `on cluster prod-eu: …`;
 * - a leading `in prod-eu, …` / `on prod-eu: …` / `prod-eu: …`, but only when
 *   prod-eu is a cluster Deputy serves: "in default, why…" speaks of a
 *   namespace, not of a cluster.
 *
 * The first two are explicit: a name Deputy does not serve is reported, not
 * ignored. The naming is removed from the text that goes on to the agent or
 * the direct-command parser.
 */
export type ClusterChoice =
  | { kind: "named"; cluster: string; text: string }
  | { kind: "unknown"; name: string; text: string }
  | { kind: "none"; text: string };

const FLAG = /(^|\s)--cluster(?:=|\s+|$)(\S*)(?=\s|$)/i;
const EXPLICIT_LEAD = /^\s*(?:in|on|for)\s+(?:the\s+)?cluster\s+([^\s,:]+)\s*[,:]?\s*/i;
const IMPLICIT_LEAD = /^\s*(?:(?:in|on|for)\s+)?([a-z0-9][a-z0-9-]*)\s*[,:]\s*/i;

export function clusterNamedIn(text: string, known: readonly string[]): ClusterChoice {
  const choose = (name: string, rest: string): ClusterChoice => {
    const cluster = name.toLowerCase();
    return known.includes(cluster)
      ? { kind: "named", cluster, text: rest.trim() }
      : { kind: "unknown", name, text: rest.trim() };
  };
  const flag = FLAG.exec(text);
  if (flag) {
    const rest = `${text.slice(0, flag.index)}${flag[1]}${text.slice(flag.index + flag[0].length)}`;
    return choose(flag[2] ?? "", rest.replace(/\s{2,}/g, " "));
  }
  const explicit = EXPLICIT_LEAD.exec(text);
  if (explicit) return choose(explicit[1]!, text.slice(explicit[0].length));
  const implicit = IMPLICIT_LEAD.exec(text);
  if (implicit && known.includes(implicit[1]!.toLowerCase())) {
    return choose(implicit[1]!, text.slice(implicit[0].length));
  }
  return { kind: "none", text };
}

/** The sentence for a cluster name Deputy does not serve, or for a message that must name one. */
export function clusterChoiceHelp(known: readonly string[], problem: string): string {
  const list = known.map((name) => `\`${name}\``).join(", ");
  const example = known[0] ?? "prod-eu";
  return `${problem} Clusters served here: ${list}. Name one at the start of your message (\`in ${example}, why…\`) or with \`--cluster ${example}\`.`;
}

/** The sentence for an explicitly named cluster that is not served (or `--cluster` with no name). */
export function unknownClusterHelp(known: readonly string[], name: string): string {
  const problem =
    name === ""
      ? "`--cluster` needs a cluster name; nothing was run."
      : `Deputy does not serve a cluster named \`${name.slice(0, 64)}\`, so nothing was run.`;
  return clusterChoiceHelp(known, problem);
}
