import { createServer, connect, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

/**
 * A TCP proxy on 127.0.0.1 in front of one of a component's peers (the Slack
 * API, the model, Redis), so a test can do to that component what a network
 * or a kill does: `hold()` stops every byte in both directions (a stalled
 * process, a partition) until `release()`; `sever()` drops every connection
 * and refuses new ones, as a SIGKILLed process's peers see it.
 */
export interface SeverableProxy {
  /** host:port to connect to instead of the target. */
  readonly port: number;
  readonly url: (scheme: string, path?: string) => string;
  hold(): void;
  release(): void;
  sever(): void;
  close(): Promise<void>;
}

export async function startSeverableProxy(target: { host: string; port: number }): Promise<SeverableProxy> {
  const sockets = new Set<Socket>();
  const flushers = new Set<() => void>();
  let held = false;
  let severed = false;
  const server: Server = createServer((client) => {
    if (severed) {
      client.destroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    sockets.add(client);
    sockets.add(upstream);
    const queued: [Socket, Buffer][] = [];
    const forward = (to: Socket) => (chunk: Buffer) => {
      if (held) queued.push([to, chunk]);
      else to.write(chunk);
    };
    const flush = (): void => {
      for (const [to, chunk] of queued.splice(0)) to.write(chunk);
    };
    flushers.add(flush);
    client.on("data", forward(upstream));
    upstream.on("data", forward(client));
    const end = (): void => {
      flushers.delete(flush);
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("close", end);
    upstream.on("close", end);
    client.on("error", end);
    upstream.on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const sever = (): void => {
    severed = true;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };
  return {
    port,
    url: (scheme, path = "") => `${scheme}://127.0.0.1:${port}${path}`,
    hold() {
      held = true;
    },
    release() {
      held = false;
      for (const flush of flushers) flush();
    },
    sever,
    close() {
      sever();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
