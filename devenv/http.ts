import { request as httpsRequest } from "node:https";
import { request as httpRequest } from "node:http";
import { readFileSync } from "node:fs";

/** Minimal HTTP(S) GET for health checks, with optional mutual TLS from PEM files. */
export interface TlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
}

export interface SimpleResponse {
  status: number;
  body: string;
}

export function httpGet(url: string, tls: TlsFiles = {}, timeoutMs = 3000): Promise<SimpleResponse> {
  return new Promise((resolveResponse, reject) => {
    const target = new URL(url);
    const options = {
      method: "GET",
      timeout: timeoutMs,
      ...(target.protocol === "https:"
        ? {
            ca: tls.ca ? readFileSync(tls.ca) : undefined,
            cert: tls.cert ? readFileSync(tls.cert) : undefined,
            key: tls.key ? readFileSync(tls.key) : undefined,
          }
        : {}),
    };
    const send = target.protocol === "https:" ? httpsRequest : httpRequest;
    const req = send(target, options, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        resolveResponse({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
      );
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}
