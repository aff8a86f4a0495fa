import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * An HTTPS proxy in front of the test API server that counts the requests
 * passing through it, by method and path. It presents a certificate signed by
 * the test environment's own CA, so a client that trusts the cluster CA (the
 * secrets engine) talks to it unchanged. Only for the benchmark: it measures
 * exactly what one client sends, which the API server's global counters
 * cannot separate from everyone else's.
 */
export interface CountingProxy {
  url: string;
  /** Requests seen since the last reset, by "METHOD resource". */
  counts(): Map<string, number>;
  total(): number;
  reset(): void;
  close(): Promise<void>;
}

/** "POST serviceaccounts/token", "DELETE rolebindings": the verb and the resource (and subresource). */
function describe(method: string, path: string): string {
  const parts = path.split("?")[0]!.split("/").filter(Boolean);
  const index = parts.indexOf("namespaces");
  const rest = index >= 0 ? parts.slice(index + 2) : parts.slice(parts[0] === "api" ? 2 : 3);
  const resource = rest[0] ?? "?";
  const subresource = rest[2];
  return `${method} ${resource}${subresource ? `/${subresource}` : ""}`;
}

export async function startCountingProxy(options: {
  target: URL;
  caFile: string;
  caKeyFile: string;
}): Promise<CountingProxy> {
  const dir = mkdtempSync(join(tmpdir(), "deputy-counting-proxy-"));
  const key = join(dir, "proxy.key");
  const csr = join(dir, "proxy.csr");
  const cert = join(dir, "proxy.crt");
  const ext = join(dir, "proxy.ext");
  writeFileSync(ext, "subjectAltName=IP:127.0.0.1\n");
  const openssl = (args: string[]): void => void execFileSync("openssl", args, { stdio: "ignore" });
  openssl([
    "req",
    "-new",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    key,
    "-out",
    csr,
    "-subj",
    "/CN=127.0.0.1",
  ]);
  openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    options.caFile,
    "-CAkey",
    options.caKeyFile,
    "-CAcreateserial",
    "-out",
    cert,
    "-days",
    "1",
    "-extfile",
    ext,
  ]);
  const ca = readFileSync(options.caFile);
  const tally = new Map<string, number>();
  const agent = new https.Agent({ keepAlive: true, ca });
  const server = https.createServer(
    { key: readFileSync(key), cert: readFileSync(cert) },
    (request, response) => {
      const what = describe(request.method ?? "GET", request.url ?? "/");
      tally.set(what, (tally.get(what) ?? 0) + 1);
      const upstream = https.request(
        {
          host: options.target.hostname,
          port: Number(options.target.port || 443),
          method: request.method,
          path: request.url,
          headers: { ...request.headers, host: options.target.host },
          agent,
        },
        (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        },
      );
      upstream.on("error", () => {
        response.writeHead(502);
        response.end();
      });
      request.pipe(upstream);
    },
  );
  rmSync(dir, { recursive: true, force: true });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    counts: () => new Map(tally),
    total: () => [...tally.values()].reduce((sum, n) => sum + n, 0),
    reset: () => tally.clear(),
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
