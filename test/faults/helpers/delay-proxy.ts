import net from "node:net";
import type { AddressInfo } from "node:net";

/**
 * A TCP proxy on loopback that holds every chunk the client sends for
 * `delayMs` before passing it on: a slow network or a busy API server, with
 * TLS untouched end to end. `setDelay` changes the hold for chunks sent
 * from then on (0: a plain proxy until a test slows it).
 */
export interface DelayProxy {
  url: string;
  setDelay(delayMs: number): void;
  close(): Promise<void>;
}

export async function startDelayProxy(target: URL, delayMs: number): Promise<DelayProxy> {
  let delay = delayMs;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 443), target.hostname);
    sockets.add(client).add(upstream);
    client.on("data", (chunk) => {
      setTimeout(() => upstream.write(chunk), delay);
    });
    upstream.pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    setDelay: (ms) => void (delay = ms),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
