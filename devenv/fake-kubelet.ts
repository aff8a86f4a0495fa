import { readFileSync } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { createLogger } from "../core/observability/logger.ts";
import { LogQueryError, parseLogQuery, streamLogFile } from "./kubelet-logs.ts";
import { PodSimulator } from "./pod-simulator/index.ts";

/**
 * The fake kubelet: one process that serves /containerLogs for every fake
 * node (the API server proxies pods/log here) and runs the pod simulator.
 * Only clients with a certificate from the test CA (the API server's kubelet
 * client cert) are served. Usage: node devenv/fake-kubelet.ts <config.json>
 */
interface FakeKubeletConfig {
  kubeconfig: string;
  port: number;
  certFile: string;
  keyFile: string;
  clientCaFile: string;
  logsDir: string;
}

const SEGMENT = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const TEMPLATES_DIR = join(import.meta.dirname, "seed-logs");

function loadConfig(path: string | undefined): FakeKubeletConfig {
  if (!path) throw new Error("usage: fake-kubelet.ts <config.json>");
  const parsed = JSON.parse(readFileSync(path, "utf8")) as Partial<FakeKubeletConfig>;
  for (const key of ["kubeconfig", "port", "certFile", "keyFile", "clientCaFile", "logsDir"] as const) {
    if (parsed[key] === undefined) throw new Error(`${path}: missing "${key}"`);
  }
  return parsed as FakeKubeletConfig;
}

function logServer(config: FakeKubeletConfig, simulator: PodSimulator, isReady: () => boolean): Server {
  return createServer(
    {
      cert: readFileSync(config.certFile),
      key: readFileSync(config.keyFile),
      ca: readFileSync(config.clientCaFile),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      const url = new URL(req.url ?? "/", "https://kubelet.invalid");
      const reply = (status: number, text: string): void => {
        res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
        res.end(text);
      };
      if (req.method !== "GET") return reply(405, "method not allowed");
      if (url.pathname === "/healthz") return isReady() ? reply(200, "ok") : reply(503, "starting");
      const parts = url.pathname.split("/").filter((part) => part.length > 0);
      if (parts.length !== 4 || parts[0] !== "containerLogs") return reply(404, "404 page not found");
      const [, namespace, pod, container] = parts as [string, string, string, string];
      if (![namespace, pod, container].every((part) => SEGMENT.test(part))) {
        return reply(400, "invalid namespace, pod or container name");
      }
      let query;
      try {
        query = parseLogQuery(url.searchParams);
      } catch (error) {
        return reply(400, error instanceof LogQueryError ? error.message : "invalid query");
      }
      const file = join(
        config.logsDir,
        namespace,
        pod,
        `${container}${query.previous ? ".previous" : ""}.log`,
      );
      void stat(file).then(
        async () => {
          const abort = new AbortController();
          res.on("close", () => abort.abort());
          res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
          try {
            await streamLogFile(file, query, res, abort.signal);
          } finally {
            res.end();
          }
        },
        () => {
          if (query.previous) {
            return reply(400, `previous terminated container "${container}" in pod "${pod}" not found`);
          }
          const waiting = simulator.waitingReason(namespace, pod, container);
          if (waiting) return reply(400, waiting);
          return reply(200, "");
        },
      );
    },
  );
}

async function main(): Promise<void> {
  const config = loadConfig(process.argv[2]);
  const logger = createLogger({ name: "fake-kubelet", level: process.env.LOG_LEVEL ?? "info" });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(config.kubeconfig);
  const simulator = new PodSimulator({
    kubeConfig,
    kubeletPort: config.port,
    logsDir: config.logsDir,
    templatesDir: TEMPLATES_DIR,
    logger,
  });
  let ready = false;
  const server = logServer(config, simulator, () => ready);
  await new Promise<void>((resolveListen, reject) => {
    server.once("error", reject);
    server.listen(config.port, "127.0.0.1", () => resolveListen());
  });
  await simulator.start();
  ready = true;
  logger.info({ port: config.port }, "fake kubelet ready");
  const shutdown = (): void => {
    logger.info("stopping");
    server.close();
    void simulator.stop().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `fake-kubelet: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
