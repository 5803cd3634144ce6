import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import type { OrdersConfig } from './config.js';

/** A listening orders service. */
export interface RunningOrdersService {
  /** `http://host:port`, with the port actually bound (useful with port 0). */
  readonly url: string;
  /** Stop accepting connections and wait for requests in flight (at most 5 s, then cut them). */
  close(): Promise<void>;
}

const CLOSE_GRACE_MS = 5000;

/** Close `server`, letting requests in flight finish for up to `CLOSE_GRACE_MS`. */
async function closeServer(server: Server): Promise<void> {
  if (!server.listening) return;
  const closed = once(server, 'close');
  server.close();
  server.closeIdleConnections();
  const timer = setTimeout(() => {
    server.closeAllConnections();
  }, CLOSE_GRACE_MS);
  timer.unref();
  await closed;
  clearTimeout(timer);
}

/**
 * Load the issuer's keys, then listen on `config.host:config.port`. Rejects, without listening, when
 * the issuer is unusable (wrong `AS_ISSUER`, authorization server down) or the port is taken.
 */
export async function start(config: OrdersConfig): Promise<RunningOrdersService> {
  const { app, ready } = createApp(config);
  await ready();
  const server = app.listen(config.port, config.host);
  // `once` rejects on an 'error' event (e.g. EADDRINUSE) before 'listening'.
  await once(server, 'listening');
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return { url: `http://${host}:${port}`, close: () => closeServer(server) };
}
