/**
 * Guards sharing Redis, as replicas would: Express apps in front of the testkit's real
 * authorization server (introspection endpoint, JWKS), each listening on 127.0.0.1.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { authenticate, requireScopes } from '@bearer-guard/express';
import type { DpopReplayStore, GuardEventMap, IntrospectionStore } from '@bearer-guard/express';
import type { AuthorizationServerStub } from '@bearer-guard/testkit';
import express from 'express';

export const PUBLIC_URL = 'https://orders.example';
export const HTU = `${PUBLIC_URL}/orders`;
/** 32 bytes and more: the HMAC key the replicas share. */
export const HMAC_KEY = 'test-hmac-key-0123456789-abcdefghijklmnop';

export interface GuardOptions {
  introspectionStore?: IntrospectionStore;
  replayStore?: DpopReplayStore;
  /** The scope GET /orders requires. Defaults to `read`. */
  scope?: string;
  audience?: string;
  maxSeconds?: number;
}

export interface Replica {
  readonly url: string;
  readonly storeFailures: GuardEventMap['store.failed'][];
  get(token: string, headers?: Record<string, string>): Promise<{ status: number; challenge: string | null }>;
  close(): Promise<void>;
}

export async function startReplica(as: AuthorizationServerStub, options: GuardOptions): Promise<Replica> {
  const app = express();
  app.set('env', 'test');
  const auth = authenticate({
    issuer: as.issuer,
    audience: options.audience ?? as.audience,
    jwksUri: as.jwksUri,
    publicUrl: PUBLIC_URL,
    timeout: 2000,
    introspection: {
      clientId: as.introspectionClient.clientId,
      clientSecret: as.introspectionClient.clientSecret,
      endpoint: as.introspectionEndpoint,
      timeout: 2000,
      ...(options.introspectionStore === undefined ? {} : { store: options.introspectionStore }),
      ...(options.maxSeconds === undefined ? {} : { cache: { maxSeconds: options.maxSeconds } }),
    },
    ...(options.replayStore === undefined ? {} : { dpop: { replayStore: options.replayStore } }),
  });
  const storeFailures: GuardEventMap['store.failed'][] = [];
  auth.guard.on('store.failed', (event) => storeFailures.push(event));
  app.use(auth);
  app.get('/orders', requireScopes(options.scope ?? 'read'), (_req, res) => {
    res.json({ ok: true });
  });
  const server: Server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  return {
    url,
    storeFailures,
    async get(token, headers = {}) {
      const scheme = headers['dpop'] === undefined ? 'Bearer' : 'DPoP';
      const response = await fetch(`${url}/orders`, {
        headers: { authorization: `${scheme} ${token}`, ...headers },
        signal: AbortSignal.timeout(10_000),
      });
      await response.arrayBuffer();
      return { status: response.status, challenge: response.headers.get('www-authenticate') };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

/** Wait (at most 10 s) until `condition` holds, checking every 20 ms. */
export async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
