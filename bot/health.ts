import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { describeError } from "../core/errors.ts";
import { handleMetricsRequest, type Metrics } from "../core/observability/metrics.ts";

/**
 * The bot's probe and metrics port: in Socket Mode it has no HTTP server of its
 * own. /healthz says the process runs; /readyz that it can do its job (Slack
 * connected, Redis answering); /metrics is Prometheus.
 */
export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

export async function startHealthServer(options: {
  host: string;
  port: number;
  metrics: Metrics;
  ready: () => Promise<string | undefined>;
}): Promise<HealthServer> {
  const server: Server = createServer((request, response) => {
    void (async () => {
      if (await handleMetricsRequest(options.metrics, request, response)) return;
      const path = (request.url ?? "/").split("?")[0];
      if (path === "/healthz") {
        response.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
        return;
      }
      if (path === "/readyz") {
        let problem: string | undefined;
        try {
          problem = await options.ready();
        } catch (error) {
          problem = describeError(error);
        }
        response
          .writeHead(problem ? 503 : 200, { "content-type": "text/plain" })
          .end(problem ? `not ready: ${problem}\n` : "ready\n");
        return;
      }
      response.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    })().catch(() => response.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
