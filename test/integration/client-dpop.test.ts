// @bearer-guard/client's DPoP end to end: tokens bound by a real node-oidc-provider (RFC 9449 §5),
// proofs checked by a real bearer-guard resource server with `dpop.required` and server nonces (§9).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';

import { createTokenClient, type TokenClient } from '@bearer-guard/client';
import { authenticate, errorHandler } from '@bearer-guard/express';
import express from 'express';
import { decodeJwt } from 'jose';

import { JWT_RESOURCE, startOidcProvider, type OidcProviderFixture } from '../support/oidc-provider.js';

interface Seen {
  method: string;
  path: string;
  authorization: string | undefined;
  proof: Record<string, unknown> | undefined;
  status?: number;
}

interface ResourceServer {
  url: string;
  seen: Seen[];
  close(): Promise<void>;
}

/**
 * Replicas of one bearer-guard resource server behind one port, taking requests in turn. Replicas
 * given different nonce secrets (a misconfiguration) refuse each other's nonces.
 */
async function startResourceServer(
  issuer: string,
  secrets: string[],
  audience = JWT_RESOURCE,
): Promise<ResourceServer> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  const seen: Seen[] = [];
  const replicas = secrets.map((secret) => {
    const app = express();
    app.use(authenticate({ issuer, audience, publicUrl: url, dpop: { required: true, nonce: { secret } } }));
    app.all('/data', express.text(), (req, res) => {
      res.json({ confirmation: req.auth?.confirmation, body: req.body as unknown });
    });
    app.use(errorHandler());
    return app;
  });
  server.on('request', (req, res) => {
    const proof = req.headers.dpop;
    const entry: Seen = {
      method: req.method ?? '',
      path: req.url ?? '',
      authorization: req.headers.authorization,
      proof: typeof proof === 'string' ? decodeJwt(proof) : undefined,
    };
    seen.push(entry);
    res.on('finish', () => {
      entry.status = res.statusCode;
    });
    const replica = replicas[(seen.length - 1) % replicas.length];
    replica?.(req, res);
  });
  return {
    url,
    seen,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    },
  };
}

const secret = (): string => randomBytes(32).toString('base64url');

describe('client DPoP against a bearer-guard resource server with nonces (RFC 9449 §7, §9)', () => {
  let op: OidcProviderFixture;
  let rs: ResourceServer;
  let tokens: TokenClient;

  before(async () => {
    op = await startOidcProvider();
  });
  after(() => op.close());
  beforeEach(async () => {
    rs = await startResourceServer(op.issuer, [secret()]);
    tokens = createTokenClient({
      issuer: op.issuer,
      clientId: op.caller.clientId,
      clientSecret: op.caller.clientSecret,
      scope: 'read',
      resource: JWT_RESOURCE,
      dpop: true,
    });
  });
  afterEach(() => rs.close());

  it('gets the nonce with one retry, then every call is one request with a new proof', async () => {
    const first = await tokens.fetch(`${rs.url}/data?patient=123#top`);
    assert.equal(first.status, 200);
    const { access_token } = await tokens.getToken();
    const jkt = (decodeJwt(access_token)['cnf'] as { jkt: string }).jkt;
    assert.deepEqual(await first.json(), { confirmation: { jkt } });
    assert.deepEqual(
      rs.seen.map((entry) => entry.status),
      [401, 200],
    );
    const second = await tokens.fetch(`${rs.url}/data`);
    assert.equal(second.status, 200);
    assert.equal(rs.seen.length, 3);
    const [noNonce, withNonce, next] = rs.seen;
    assert.equal(noNonce?.proof?.['nonce'], undefined);
    assert.equal(typeof withNonce?.proof?.['nonce'], 'string');
    for (const entry of rs.seen) {
      assert.equal(entry.authorization, `DPoP ${access_token}`);
      const proof = entry.proof ?? {};
      // RFC 9449 §4.2: htu without query and fragment.
      assert.deepEqual([proof['htm'], proof['htu']], ['GET', `${rs.url}/data`]);
    }
    assert.equal(new Set(rs.seen.map((entry) => entry.proof?.['jti'])).size, 3);
    assert.equal(typeof next?.proof?.['nonce'], 'string');
  });

  it('replaces the caller’s Authorization and DPoP headers, and replays a string body', async () => {
    const response = await tokens.fetch(`${rs.url}/data`, {
      method: 'POST',
      headers: { authorization: 'Bearer stolen', dpop: 'forged', 'content-type': 'text/plain' },
      body: 'hello',
    });
    assert.equal(response.status, 200);
    assert.deepEqual(((await response.json()) as { body: unknown }).body, 'hello');
    assert.equal(rs.seen.length, 2);
    assert.equal(rs.seen[1]?.proof?.['htm'], 'POST');
  });

  it('returns the 401 use_dpop_nonce of a stream body as it is (a stream cannot be sent twice)', async () => {
    const post = () =>
      tokens.fetch(`${rs.url}/data`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: Readable.toWeb(Readable.from(['str', 'eam'])) as ReadableStream,
        duplex: 'half',
      });
    const refused = await post();
    assert.equal(refused.status, 401);
    assert.match(String(refused.headers.get('www-authenticate')), /^DPoP error="use_dpop_nonce"/);
    assert.equal(rs.seen.length, 1);
    // The nonce is kept: the next stream goes through at once.
    const accepted = await post();
    assert.equal(accepted.status, 200);
    assert.deepEqual(((await accepted.json()) as { body: unknown }).body, 'stream');
    assert.equal(rs.seen.length, 2);
  });

  it('retries once: a second use_dpop_nonce in a row is the answer, never a loop', async () => {
    await rs.close();
    // Two replicas that do not share the nonce secret: each refuses the other's nonce.
    rs = await startResourceServer(op.issuer, [secret(), secret()]);
    const before = op.requests.get('/token') ?? 0;
    const response = await tokens.fetch(`${rs.url}/data`);
    assert.equal(response.status, 401);
    assert.equal(
      response.headers.get('www-authenticate'),
      'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"',
    );
    assert.ok(response.headers.get('dpop-nonce'));
    assert.equal(rs.seen.length, 2);
    assert.equal((op.requests.get('/token') ?? 0) - before, 1);
  });

  it('on DPoP error="invalid_token" renews the token once and retries once', async () => {
    await rs.close();
    // Every token is for another audience here: refused, renewed once, refused again, returned.
    rs = await startResourceServer(op.issuer, [secret()], 'https://other.example');
    const before = op.requests.get('/token') ?? 0;
    const response = await tokens.fetch(`${rs.url}/data`);
    assert.equal(response.status, 401);
    assert.match(String(response.headers.get('www-authenticate')), /^DPoP error="invalid_token"/);
    assert.equal((op.requests.get('/token') ?? 0) - before, 2);
    const tokensSent = new Set(rs.seen.map((entry) => entry.authorization));
    assert.equal(tokensSent.size, 2);
    // The token is checked before the proof's nonce, so no nonce round comes into it.
    assert.deepEqual(
      rs.seen.map((entry) => entry.status),
      [401, 401],
    );
  });
});
