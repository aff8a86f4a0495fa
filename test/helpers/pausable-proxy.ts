import { createServer, connect, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

export interface PausableProxy {
  /** host:port to put in place of the upstream's. */
  port: number;
  /** Stop forwarding: open connections go silent and new ones are accepted but never answered. */
  pause(): void;
  resume(): void;
  /** Drop every connection and refuse new ones, as a SIGKILLed process's peers see it. */
  sever(): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy on 127.0.0.1 in front of one of a component's peers (the API
 * server, Slack, the model, Redis; TLS passes through untouched), so a test
 * can do to that component what a network or a kill does: freeze it (an API
 * server that stopped answering, a stalled process), or sever it.
 */
export async function startPausableProxy(upstream: { host: string; port: number }): Promise<PausableProxy> {
  let paused = false;
  let severed = false;
  const pairs = new Set<[Socket, Socket | undefined]>();
  const waiting: (() => void)[] = [];
  const server: Server = createServer((client) => {
    if (severed) {
      client.destroy();
      return;
    }
    const pair: [Socket, Socket | undefined] = [client, undefined];
    pairs.add(pair);
    client.on("error", () => client.destroy());
    client.on("close", () => {
      pair[1]?.destroy();
      pairs.delete(pair);
    });
    const link = (): void => {
      if (client.destroyed) return;
      const server = connect(upstream);
      pair[1] = server;
      server.on("error", () => client.destroy());
      server.on("close", () => client.destroy());
      client.pipe(server);
      server.pipe(client);
    };
    if (paused) {
      client.pause();
      waiting.push(() => {
        client.resume();
        link();
      });
    } else link();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const sever = (): void => {
    severed = true;
    for (const [client, upstreamSocket] of pairs) {
      client.destroy();
      upstreamSocket?.destroy();
    }
  };
  return {
    port: (server.address() as AddressInfo).port,
    pause() {
      paused = true;
      for (const [client, upstreamSocket] of pairs) {
        client.pause();
        upstreamSocket?.pause();
      }
    },
    resume() {
      paused = false;
      for (const [client, upstreamSocket] of pairs) {
        client.resume();
        upstreamSocket?.resume();
      }
      for (const go of waiting.splice(0)) go();
    },
    sever,
    async close() {
      sever();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
