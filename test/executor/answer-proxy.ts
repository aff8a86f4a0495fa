import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClusterEndpoint } from "../../executor/kube-writer.ts";

/**
 * An HTTPS proxy in front of the real API server that can change what the
 * executor hears: each request is shown to `decide`, which says whether it is
 * forwarded, and what the executor gets back — the API server's answer, a
 * status of the test's choosing instead (after the request was or was not
 * applied), or a connection cut after the request was sent. TLS ends here
 * with a certificate made for the test, so the executor trusts it by its CA.
 */
export type ProxyVerdict =
  | { kind: "forward" }
  /** Answer `status` without sending the request on: the API server never sees it. */
  | { kind: "answer"; status: number; message?: string }
  /** Send it on, let the API server act, then replace its answer with `status`. */
  | { kind: "replace"; status: number; message?: string }
  /** Send it on, let the API server act, then cut the connection with no answer. */
  | { kind: "cut" };

export interface ProxiedRequest {
  method: string;
  path: string;
}

export interface AnswerProxy {
  /** The endpoint the executor is given instead of the API server. */
  cluster: ClusterEndpoint;
  /** Every request seen, in order. */
  seen: ProxiedRequest[];
  setRule(decide: (request: ProxiedRequest) => ProxyVerdict): void;
  close(): Promise<void>;
}

function selfSignedCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), "deputy-proxy-"));
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
      ],
      { stdio: "ignore" },
    );
    return {
      key: readFileSync(join(dir, "key.pem"), "utf8"),
      cert: readFileSync(join(dir, "cert.pem"), "utf8"),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function statusBody(status: number, message: string): string {
  return JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", message, code: status });
}

export async function startAnswerProxy(target: { server: string; caPem: string }): Promise<AnswerProxy> {
  const { key, cert } = selfSignedCertificate();
  const upstream = new URL(target.server);
  let decide: (request: ProxiedRequest) => ProxyVerdict = () => ({ kind: "forward" });
  const seen: ProxiedRequest[] = [];
  const server = https.createServer({ key, cert }, (request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const seenRequest = { method: request.method ?? "GET", path: (request.url ?? "/").split("?")[0]! };
      seen.push(seenRequest);
      const verdict = decide(seenRequest);
      const answer = (status: number, message: string): void => {
        const text = statusBody(status, message);
        response.writeHead(status, {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(text),
        });
        response.end(text);
      };
      if (verdict.kind === "answer") return answer(verdict.status, verdict.message ?? "injected by the test");
      const headers = { ...request.headers, host: upstream.host };
      const forwarded = https.request(
        {
          hostname: upstream.hostname,
          port: upstream.port,
          method: request.method,
          path: request.url,
          headers,
          ca: target.caPem,
        },
        (reply) => {
          const body: Buffer[] = [];
          reply.on("data", (chunk: Buffer) => body.push(chunk));
          reply.on("end", () => {
            if (verdict.kind === "replace")
              return answer(verdict.status, verdict.message ?? "etcdserver: request timed out");
            if (verdict.kind === "cut") return void request.socket.destroy();
            response.writeHead(reply.statusCode ?? 502, reply.headers);
            response.end(Buffer.concat(body));
          });
        },
      );
      forwarded.on("error", () => request.socket.destroy());
      forwarded.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    cluster: { server: `https://127.0.0.1:${port}`, caPem: cert },
    seen,
    setRule: (rule) => void (decide = rule),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
