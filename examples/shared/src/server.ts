import { once } from 'node:events';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A listening service. */
export interface RunningServer {
  /** `http://host:port`, with the port actually bound (useful with port 0). */
  readonly url: string;
  /** Stop accepting connections and wait for requests in flight (see {@link ListenOptions.closeGraceMs}). */
  close(): Promise<void>;
}

export interface ListenOptions {
  port: number;
  host: string;
  /**
   * How long `close()` lets requests in flight finish before cutting them; `0` cuts open
   * connections at once. Defaults to 5000.
   */
  closeGraceMs?: number | undefined;
  /** What `close()` releases once the server has closed (the service's Redis connection). */
  release?: (() => Promise<void>) | undefined;
}

/** Close `server`, letting requests in flight finish for up to `graceMs`. */
async function closeServer(server: Server, graceMs: number): Promise<void> {
  if (!server.listening) return;
  const closed = once(server, 'close');
  server.close();
  if (graceMs <= 0) {
    server.closeAllConnections();
    await closed;
    return;
  }
  server.closeIdleConnections();
  const timer = setTimeout(() => {
    server.closeAllConnections();
  }, graceMs);
  timer.unref();
  await closed;
  clearTimeout(timer);
}

/** Listen on `host:port` with `app`. Rejects, without listening, when the port is taken. */
export async function listen(
  app: RequestListener,
  { port, host, closeGraceMs = 5000, release }: ListenOptions,
): Promise<RunningServer> {
  const server = createServer(app).listen(port, host);
  // `once` rejects on an 'error' event (e.g. EADDRINUSE) before 'listening'.
  await once(server, 'listening');
  const { address, port: bound } = server.address() as AddressInfo;
  const hostname = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${hostname}:${bound}`,
    close: async () => {
      await closeServer(server, closeGraceMs);
      await release?.();
    },
  };
}
