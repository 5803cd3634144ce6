import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { authenticate, BearerGuardError } from '@bearer-guard/express';
import { createDpopProof, generateDpopKey } from '@bearer-guard/testkit';
import express, { type NextFunction, type Request, type Response } from 'express';
import request from 'supertest';

import { TIMEOUT } from './support.js';

const PUBLIC_URL = 'https://orders.example';
const ISSUER = 'https://as.example';

/**
 * An introspection endpoint that holds every call until `release()`, then answers 500: concurrent
 * requests for one token then share one failing call (coalescing, introspection.ts).
 */
async function heldFailingEndpoint(): Promise<{
  url: string;
  calls: () => number;
  release: () => void;
  close: () => Promise<void>;
}> {
  const held: ServerResponse[] = [];
  let calls = 0;
  let released = false;
  const answer = (res: ServerResponse) => {
    res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"server_error"}');
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    calls++;
    req.resume();
    if (released) answer(res);
    else held.push(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${String(port)}/introspect`,
    calls: () => calls,
    release() {
      released = true;
      for (const res of held.splice(0)) answer(res);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    },
  };
}

describe('issue 14: the challenge of a failure shared by coalesced requests', function () {
  it('a DPoP and a Bearer request sharing one failing introspection each get the scheme they used', async function () {
    const endpoint = await heldFailingEndpoint();
    try {
      const key = await generateDpopKey();
      let arrivals = 0;
      const app = express();
      // Runs just before authenticate(): once the second request is through it, authenticate() has
      // joined the introspection call in flight (it does so synchronously), and the endpoint may answer.
      app.use((_req, _res, next) => {
        next();
        if (++arrivals === 2) setImmediate(endpoint.release);
      });
      app.use(
        authenticate({
          issuer: ISSUER,
          audience: 'orders',
          timeout: TIMEOUT,
          publicUrl: PUBLIC_URL,
          dpop: {},
          introspection: {
            endpoint: endpoint.url,
            clientId: 'rs',
            clientSecret: 'rs-secret',
            timeout: TIMEOUT,
            breaker: { failureThreshold: 100 },
          },
        }),
      );
      app.get('/orders', (_req, res) => {
        res.json({ ok: true });
      });
      // A renderer of its own, as an API with its own error format writes: it reads the challenge,
      // after an asynchronous step (an audit log write), when both requests' errors were raised.
      app.use(async (error: unknown, _req: Request, res: Response, next: NextFunction) => {
        if (!(error instanceof BearerGuardError)) {
          next(error);
          return;
        }
        await new Promise((resolve) => setImmediate(resolve));
        res
          .status(error.status)
          .set(error.headers)
          .json({ code: error.code, scheme: error.challenge?.scheme });
      });

      const token = 'an-opaque-token-of-the-authorization-server';
      const proof = await createDpopProof(key, {
        htm: 'GET',
        htu: `${PUBLIC_URL}/orders`,
        accessToken: token,
      });
      const [dpop, bearer] = await Promise.all([
        request(app).get('/orders').set('Authorization', `DPoP ${token}`).set('DPoP', proof),
        request(app).get('/orders').set('Authorization', `Bearer ${token}`),
      ]);
      assert.equal(endpoint.calls(), 1, 'one shared introspection call');
      assert.equal(dpop.status, 503);
      assert.equal(bearer.status, 503);
      assert.deepEqual(dpop.body, { code: 'ERR_BEARER_INTROSPECTION_UNAVAILABLE', scheme: 'dpop' });
      assert.deepEqual(bearer.body, { code: 'ERR_BEARER_INTROSPECTION_UNAVAILABLE', scheme: 'bearer' });
      // A 503 is no authentication challenge (RFC 9110 §11.6.1): only the retry hint, on both.
      assert.equal(dpop.headers['www-authenticate'], undefined);
      assert.equal(bearer.headers['retry-after'], dpop.headers['retry-after']);
    } finally {
      await endpoint.close();
    }
  });
});
