import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { authenticate, errorHandler } from '@bearer-guard/express';
import { createDpopProof, generateDpopKey, startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub, DpopKey } from '@bearer-guard/testkit';
import express from 'express';

import { probe, TIMEOUT } from './support.js';

/** The client's own address: a loopback address no proxy uses, so `trustProxy` can tell them apart. */
const CLIENT_ADDRESS = '127.0.0.5';
const PROXY_ADDRESS = '127.0.0.1';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, PROXY_ADDRESS, resolve));
  return (server.address() as AddressInfo).port;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
}

/** One request from {@link CLIENT_ADDRESS}. */
async function send(port: number, headers: Record<string, string>): Promise<Answer> {
  return await new Promise<Answer>((resolve, reject) => {
    const req = httpRequest(
      { host: PROXY_ADDRESS, port, path: '/orders', localAddress: CLIENT_ADDRESS, headers },
      (res) => {
        res.resume();
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const appended = (headers: IncomingHttpHeaders, name: string, value: string): string => {
  const existing = headers[name];
  const text = Array.isArray(existing) ? existing.join(', ') : existing;
  return text === undefined ? value : `${text}, ${value}`;
};

/**
 * A reverse proxy that appends, as Envoy and many others do: the peer address to `X-Forwarded-For`,
 * the `Host` it received to `X-Forwarded-Host`, its scheme to `X-Forwarded-Proto` and, when given,
 * an XFCC element about its peer's certificate. What the client sent is passed on before it.
 */
async function appendingProxy(upstream: number, xfcc?: string): Promise<{ port: number; server: Server }> {
  const server = createServer((req, res) => {
    const headers: IncomingHttpHeaders = {
      ...req.headers,
      'x-forwarded-for': appended(req.headers, 'x-forwarded-for', req.socket.remoteAddress ?? ''),
      'x-forwarded-host': appended(req.headers, 'x-forwarded-host', req.headers.host ?? ''),
      'x-forwarded-proto': appended(req.headers, 'x-forwarded-proto', 'https'),
      host: `${PROXY_ADDRESS}:${String(upstream)}`,
    };
    if (xfcc !== undefined)
      headers['x-forwarded-client-cert'] = appended(req.headers, 'x-forwarded-client-cert', xfcc);
    const forward = httpRequest(
      { host: PROXY_ADDRESS, port: upstream, method: req.method, path: req.url, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.writeHead(502).end());
    req.pipe(forward);
  });
  return { port: await listen(server), server };
}

/** A certificate thumbprint: the hex SHA-256 an XFCC `Hash` carries, and the `x5t#S256` of it. */
function thumbprint(): { hex: string; x5t: string } {
  const digest = randomBytes(32);
  return { hex: digest.toString('hex'), x5t: digest.toString('base64url') };
}

describe('issue 14: X-Forwarded-* and XFCC through a chain of proxies', function () {
  let as: AuthorizationServerStub;
  let key: DpopKey;
  const servers: Server[] = [];
  let app: number;

  before(async function () {
    as = await startAuthorizationServer();
    key = await generateDpopKey();
    const api = express();
    api.set('env', 'test');
    api.use(
      authenticate({
        issuer: as.issuer,
        audience: as.audience,
        jwksUri: as.jwksUri,
        timeout: TIMEOUT,
        trustProxy: (address) => address === PROXY_ADDRESS,
        dpop: {},
        mtls: { certificate: { header: 'x-forwarded-client-cert', format: 'xfcc' } },
      }),
    );
    api.get('/orders', probe().handler);
    api.use(errorHandler());
    const server = createServer(api);
    servers.push(server);
    app = await listen(server);
  });

  after(async function () {
    for (const server of servers) await close(server);
    await as.close();
  });

  /** Proxies in a row, from the edge (the client's peer) inwards, each with its XFCC element. */
  async function chain(elements: (string | undefined)[] = [undefined, undefined]): Promise<number> {
    let upstream = app;
    for (const element of [...elements].reverse()) {
      const proxy = await appendingProxy(upstream, element);
      servers.push(proxy.server);
      upstream = proxy.port;
    }
    return upstream;
  }

  async function dpopThrough(edge: number, htu: string, headers: Record<string, string>): Promise<Answer> {
    const token = await as.sign({ ...key.cnf });
    const proof = await createDpopProof(key, { htm: 'GET', htu, accessToken: token });
    return await send(edge, {
      host: 'orders.example',
      authorization: `DPoP ${token}`,
      dpop: proof,
      ...headers,
    });
  }

  it('one trusted proxy: its own (last) X-Forwarded-Host/-Proto count, never the client-sent first one', async function () {
    const proxy = await appendingProxy(app);
    servers.push(proxy.server);
    const spoof = { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'http' };
    // A proof made for another service: refused, though the client named that host.
    const forged = await dpopThrough(proxy.port, 'http://evil.example/orders', spoof);
    assert.equal(forged.status, 401);
    assert.match(String(forged.headers['www-authenticate']), /^DPoP error="invalid_dpop_proof"/);
    // The legitimate client, whatever it wrote in the headers the proxy appends to.
    assert.equal((await dpopThrough(proxy.port, 'https://orders.example/orders', spoof)).status, 200);
    assert.equal((await dpopThrough(proxy.port, 'https://orders.example/orders', {})).status, 200);
  });

  it('two trusted proxies: the value of the outer one, found by walking X-Forwarded-For from the right', async function () {
    const edge = await chain();
    const spoof = {
      'x-forwarded-host': 'evil.example',
      // Trusted addresses the client wrote itself: the walk stops at the client's real address.
      'x-forwarded-for': `${PROXY_ADDRESS}, ${PROXY_ADDRESS}`,
    };
    const forged = await dpopThrough(edge, 'https://evil.example/orders', spoof);
    assert.equal(forged.status, 401);
    // The inner proxy appended the Host it was sent (the edge's upstream address): not the client's URL.
    const inner = await dpopThrough(edge, `https://${PROXY_ADDRESS}/orders`, spoof);
    assert.equal(inner.status, 401);
    assert.equal((await dpopThrough(edge, 'https://orders.example/orders', spoof)).status, 200);
  });

  it("XFCC through two appending proxies: the outer proxy's element (the client's certificate), not the inner's", async function () {
    const client = thumbprint();
    const edgeProxy = thumbprint();
    const victim = thumbprint();
    // The edge saw the client's certificate; the inner proxy saw the edge's own.
    const edge = await chain([
      `By=spiffe://edge;Hash=${client.hex}`,
      `By=spiffe://inner;Hash=${edgeProxy.hex}`,
    ]);
    const call = async (x5t: string, headers: Record<string, string> = {}) =>
      await send(edge, {
        authorization: `Bearer ${await as.sign({ cnf: { 'x5t#S256': x5t } })}`,
        ...headers,
      });
    assert.equal((await call(client.x5t)).status, 200);
    assert.equal((await call(edgeProxy.x5t)).status, 401);
    // An element the client wrote before the proxies' ones never counts.
    const spoof = { 'x-forwarded-client-cert': `Hash=${victim.hex}` };
    assert.equal((await call(victim.x5t, spoof)).status, 401);
    assert.equal((await call(client.x5t, spoof)).status, 200);
  });
});
