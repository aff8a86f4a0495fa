import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { anchorOf } from "../../cli/config-reference.ts";

/**
 * The README and docs/ point at each other by relative links and heading
 * anchors; a moved file or a renamed heading must not leave a reader at a
 * dead end. (Documents other changes add are not required here.)
 */

const ROOT = resolve(import.meta.dirname, "..", "..");
const DOCS = [
  join(ROOT, "README.md"),
  ...readdirSync(join(ROOT, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => join(ROOT, "docs", name)),
];
/** Written alongside this change elsewhere; linked before they land. */
const ELSEWHERE = new Set(["docs/approval-policy.md", "docs/redis-ha.md", "docs/incident-memory.md"]);

function anchorsIn(markdown: string): Set<string> {
  const outsideCode = markdown.replace(/```[\s\S]*?```/g, "");
  return new Set([...outsideCode.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchorOf(m[1]!)));
}

/** [text](target) links outside code, as [target, anchor]. */
function linksIn(markdown: string): [string, string | undefined][] {
  const outsideCode = markdown.replace(/```[\s\S]*?```/g, "").replace(/`[^`\n]*`/g, "");
  return [...outsideCode.matchAll(/\]\(([^)\s]*)\)/g)]
    .map((m) => m[1]!)
    .filter((target) => !/^[a-z]+:/.test(target))
    .map((target) => {
      const [path, anchor] = target.split("#");
      return [path!, anchor];
    });
}

describe("links between the README and docs/", () => {
  it("reads GitHub's anchors the way GitHub writes them", () => {
    expect(anchorOf("Who may ask, approve and decide")).toBe("who-may-ask-approve-and-decide");
    expect(anchorOf("What `npm start` runs")).toBe("what-npm-start-runs");
    expect(anchorOf("1. No write other than the one a human saw and approved")).toBe(
      "1-no-write-other-than-the-one-a-human-saw-and-approved",
    );
    expect(linksIn("[a](b.md#c) `[x](y.md)` [d](https://e)")).toEqual([["b.md", "c"]]);
  });

  it.each(DOCS.map((file) => [relative(ROOT, file), file]))(
    "%s links to files and headings that exist",
    (_, file) => {
      const markdown = readFileSync(file, "utf8");
      const dead: string[] = [];
      for (const [path, anchor] of linksIn(markdown)) {
        const target = path === "" ? file : resolve(dirname(file), path);
        const name = relative(ROOT, target);
        if (ELSEWHERE.has(name)) continue;
        if (!existsSync(target)) {
          dead.push(`${path} (no such file)`);
          continue;
        }
        if (anchor && target.endsWith(".md") && !anchorsIn(readFileSync(target, "utf8")).has(anchor)) {
          dead.push(`${path}#${anchor} (no such heading)`);
        }
      }
      expect(dead).toEqual([]);
    },
  );

  it("shows pictures small enough to keep in the repository", () => {
    const images = readdirSync(join(ROOT, "docs", "images"));
    expect(images.length).toBeGreaterThan(0);
    for (const image of images) {
      expect(statSync(join(ROOT, "docs", "images", image)).size, image).toBeLessThan(300 * 1024);
    }
  });
});
