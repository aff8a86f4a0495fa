import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { DeputyError } from "../../core/errors.ts";

/**
 * The browser for console tests: Debian's `chromium` package driven by
 * playwright-core (no browser downloads). On a fresh machine (CI) it is
 * installed with apt-get the first time; afterwards the check is one stat.
 * Also runnable on its own: `node test/console/chromium.ts`.
 */
export const CHROMIUM_PATH = "/usr/bin/chromium";

export function ensureChromium(progress: (line: string) => void = () => {}): string {
  if (existsSync(CHROMIUM_PATH)) return CHROMIUM_PATH;
  const asRoot = process.getuid?.() === 0;
  const sudo = asRoot ? [] : ["sudo", "-n"];
  const run = (args: string[]): void => {
    const [command, ...rest] = [...sudo, ...args];
    execFileSync(command!, rest, {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      timeout: 15 * 60_000,
    });
  };
  try {
    progress(`${CHROMIUM_PATH} is missing: installing Debian's chromium package (apt-get)`);
    run(["apt-get", "update"]);
    run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"]);
  } catch (error) {
    throw new DeputyError(
      "TESTENV_FAILED",
      `could not install chromium with apt-get${asRoot ? "" : " (needs root or passwordless sudo)"}: ${String(error)}`,
      { cause: error },
    );
  }
  if (!existsSync(CHROMIUM_PATH)) {
    throw new DeputyError(
      "TESTENV_FAILED",
      `apt-get installed chromium but ${CHROMIUM_PATH} is still missing`,
    );
  }
  return CHROMIUM_PATH;
}

export interface LaunchedBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Headless Chromium with a fresh profile and nothing that phones home. */
export async function launchChromium(): Promise<LaunchedBrowser> {
  const executablePath = ensureChromium((line) => process.stderr.write(`chromium: ${line}\n`));
  const profile = mkdtempSync(join(tmpdir(), "deputy-chromium-"));
  // A persistent context is how playwright takes a fresh --user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: { width: 1360, height: 900 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

if (import.meta.main) {
  process.stdout.write(`${ensureChromium((line) => process.stdout.write(`${line}\n`))}\n`);
}
