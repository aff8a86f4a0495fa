import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { loadTestEnv } from "../../helpers/testenv.ts";

/**
 * A counting HTTP proxy in front of the real API server (not a mock: every
 * request it forwards is answered by kube-apiserver). Tests count the calls
 * that actually reach the server and can make the next N answers fail with a
 * 429/5xx to exercise retries.
 */
export interface ApiProxy {
  kubeConfig: KubeConfig;
  /** Requests that reached the proxy, as "METHOD /path?query". */
  seen: string[];
  /** Answer the next `count` requests with `status` instead of forwarding. */
  failNext(count: number, status: number, headers?: Record<string, string>): void;
  close(): Promise<void>;
}

export async function startApiProxy(token: string): Promise<ApiProxy> {
  const env = loadTestEnv();
  const upstream = new URL(env.server);
  const agent = new https.Agent({ ca: readFileSync(env.caFile), keepAlive: true });
  const seen: string[] = [];
  let failures: { count: number; status: number; headers: Record<string, string> } = {
    count: 0,
    status: 0,
    headers: {},
  };

  const server: Server = createServer((req: IncomingMessage, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (failures.count > 0) {
      failures.count -= 1;
      res.writeHead(failures.status, { "content-type": "application/json", ...failures.headers });
      res.end(
        JSON.stringify({
          kind: "Status",
          status: "Failure",
          code: failures.status,
          message: "injected by the test proxy",
        }),
      );
      return;
    }
    const forward = https.request(
      {
        hostname: upstream.hostname,
        port: upstream.port,
        path: req.url,
        method: req.method,
        headers: { ...req.headers, host: upstream.host },
        agent,
      },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    forward.on("error", (error) => {
      res.writeHead(502);
      res.end(String(error));
    });
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: "proxy", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: "reader", token }],
    contexts: [{ name: "proxy", cluster: "proxy", user: "reader" }],
    currentContext: "proxy",
  });
  return {
    kubeConfig,
    seen,
    failNext(count, status, headers = {}) {
      failures = { count, status, headers };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        agent.destroy();
      }),
  };
}
