/**
 * Cross-package: a small, realistic orders API built with @bearer-guard/express, against real
 * authorization-server stubs from @bearer-guard/testkit on 127.0.0.1 (discovery, JWKS, rotation,
 * outages). Nothing is mocked: every key set and metadata document travels over HTTP.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';

import { authenticate, errorHandler, requireAnyScope, requireScopes } from '@bearer-guard/express';
import type {
  AuthenticateMiddleware,
  GuardEventMap,
  GuardOptions,
  SingleIssuerOptions,
} from '@bearer-guard/express';
import { startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub, StubAlgorithm } from '@bearer-guard/testkit';
import express from 'express';
import type { Request, Response } from 'express';
import request from 'supertest';

const KEY_UNKNOWN =
  'Bearer realm="orders", error="invalid_token", error_description="The access token is signed with an unknown key."';
const ISSUER_INVALID =
  'Bearer realm="orders", error="invalid_token", error_description="The access token was not issued by a trusted issuer."';
const JWKS_UNAVAILABLE = {
  error: 'temporarily_unavailable',
  error_description: 'The keys needed to validate the access token cannot be retrieved. Try again later.',
};

/** Elliptic-curve keys only: RSA key generation would dominate the run time of these tests. */
const FAST_KEYS: StubAlgorithm[] = ['ES256', 'EdDSA'];

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function kidOf(token: string): unknown {
  const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
  return header['kid'];
}

interface Order {
  id: string;
  owner: string;
  item: string;
}

/** The application under test: what a team would actually write with bearer-guard. */
function ordersService(auth: AuthenticateMiddleware) {
  const orders: Order[] = [{ id: '1', owner: 'user-123', item: 'book' }];
  const handled = { count: 0 };
  const app = express();
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.use(auth);
  app.use(express.json());
  app.get('/orders', requireScopes('orders:read'), (req: Request, res: Response) => {
    handled.count += 1;
    const caller = req.auth!;
    res.json({
      caller: caller.subject,
      issuer: caller.issuer,
      orders: orders.filter((o) => o.owner === caller.subject),
    });
  });
  app.post('/orders', requireScopes('orders:write'), (req: Request, res: Response) => {
    handled.count += 1;
    const order = {
      id: String(orders.length + 1),
      owner: req.auth!.subject ?? '',
      item: String((req.body as { item?: unknown }).item),
    };
    orders.push(order);
    res.status(201).json(order);
  });
  app.get('/orders/:id', requireAnyScope('orders:read', 'orders:admin'), (req: Request, res: Response) => {
    handled.count += 1;
    const order = orders.find((o) => o.id === req.params['id']);
    if (order === undefined) res.status(404).json({ error: 'not_found' });
    else res.json(order);
  });
  app.use(errorHandler());
  return { app, handled };
}

describe('integration: JWT resource server (express + testkit)', function () {
  let as: AuthorizationServerStub;
  let server: Server | undefined;

  beforeEach(async function () {
    as = await startAuthorizationServer({ audience: 'https://orders.example', algorithms: FAST_KEYS });
  });

  afterEach(async function () {
    if (server !== undefined) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => {
        server?.close(() => {
          resolve();
        });
      });
      server = undefined;
    }
    await as.close();
  });

  /** Discovery from the issuer only: no jwksUri. */
  function options(extra: Partial<SingleIssuerOptions> = {}): GuardOptions {
    return {
      issuer: as.issuer,
      audience: 'https://orders.example',
      realm: 'orders',
      timeout: 2000,
      ...extra,
    };
  }

  /** Build, warm up (fails the start-up rather than the first request) and listen. */
  async function start(extra: Partial<SingleIssuerOptions> = {}) {
    const auth = authenticate(options(extra));
    const failures: GuardEventMap['keys.refresh_failed'][] = [];
    auth.guard.on('keys.refresh_failed', (event) => failures.push(event));
    await auth.ready();
    const service = ordersService(auth);
    server = service.app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server?.once('listening', resolve));
    return { ...service, auth, failures, http: request(server) };
  }

  it('discovers the key set at start-up and serves the API without fetching again', async function () {
    const { http, handled } = await start();
    assert.equal(as.counters.oauthMetadata, 1, 'RFC 8414 metadata fetched once by ready()');
    assert.equal(as.counters.jwks, 1, 'JWKS fetched once by ready()');

    const reader = await as.sign({ scope: 'orders:read' });
    const list = await http.get('/orders').set('Authorization', `Bearer ${reader}`);
    const one = await http.get('/orders/1').set('Authorization', `Bearer ${reader}`);
    const created = await http
      .post('/orders')
      .set('Authorization', `Bearer ${await as.sign({ scope: 'orders:write' })}`)
      .send({ item: 'pen' });
    const forbidden = await http.post('/orders').set('Authorization', `Bearer ${reader}`).send({ item: 'x' });
    const anonymous = await http.get('/orders');
    const health = await http.get('/health');

    assert.equal(list.status, 200);
    assert.deepEqual(list.body, {
      caller: 'user-123',
      issuer: as.issuer,
      orders: [{ id: '1', owner: 'user-123', item: 'book' }],
    });
    assert.equal(one.status, 200);
    assert.equal(created.status, 201);
    assert.deepEqual(created.body, { id: '2', owner: 'user-123', item: 'pen' });
    assert.equal(forbidden.status, 403);
    assert.equal(
      forbidden.headers['www-authenticate'],
      'Bearer realm="orders", error="insufficient_scope", error_description="The access token does not carry the scope this resource requires.", scope="orders:write"',
    );
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers['www-authenticate'], 'Bearer realm="orders"');
    assert.equal(health.status, 200);
    assert.equal(handled.count, 3);
    assert.deepEqual(
      { metadata: as.counters.oauthMetadata, jwks: as.counters.jwks, oidc: as.counters.openidConfiguration },
      { metadata: 1, jwks: 1, oidc: 0 },
    );
  });

  it('ready() rejects at start-up when the issuer cannot be discovered', async function () {
    as.setBehaviour('oauthMetadata', { mode: 'hang' });
    as.setBehaviour('openidConfiguration', { mode: 'hang' });
    const auth = authenticate(options({ timeout: 300 }));

    await assert.rejects(auth.ready(), {
      name: 'ConfigurationError',
      code: 'ERR_BEARER_CONFIG_ISSUER_UNUSABLE',
    });
  });

  it('follows a key rotation at once, and keeps old tokens working while their key is published', async function () {
    const { http, handled } = await start();
    const oldToken = await as.sign({ scope: 'orders:read' });
    const oldKid = kidOf(oldToken);
    assert.equal((await http.get('/orders').set('Authorization', `Bearer ${oldToken}`)).status, 200);

    const newKid = await as.rotateKeys();
    const newToken = await as.sign({ scope: 'orders:read' });
    assert.equal(kidOf(newToken), newKid);
    assert.notEqual(newKid, oldKid);

    const withNewKey = await http.get('/orders').set('Authorization', `Bearer ${newToken}`);
    const withOldKey = await http
      .get('/orders')
      .set('Authorization', `Bearer ${await as.sign({ scope: 'orders:read' }, { kid: oldKid as string })}`);

    assert.equal(withNewKey.status, 200, 'the first miss after a load refetches at once');
    assert.equal(withOldKey.status, 200, 'the old key is still published');
    assert.equal(as.counters.jwks, 2, 'one refetch for the new kid');
    assert.equal(handled.count, 3);
  });

  it('answers a flood of 100 random unknown kids with 401 and at most one JWKS fetch', async function () {
    const { http, handled } = await start();
    as.resetCounters();
    const tokens = await Promise.all(
      Array.from({ length: 100 }, () => as.sign({ scope: 'orders:read' }, { header: { kid: randomUUID() } })),
    );

    const answers = await Promise.all(
      tokens.map((token) => http.get('/orders').set('Authorization', `Bearer ${token}`)),
    );

    for (const res of answers) {
      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], KEY_UNKNOWN);
    }
    assert.ok(as.counters.jwks <= 1, `JWKS fetched ${String(as.counters.jwks)} times`);
    assert.equal(as.counters.oauthMetadata, 0);
    assert.equal(handled.count, 0);

    const valid = await http
      .get('/orders')
      .set('Authorization', `Bearer ${await as.sign({ scope: 'orders:read' })}`);
    assert.equal(valid.status, 200, 'known keys keep working after the flood');
    assert.ok(as.counters.jwks <= 1);
  });

  it('keeps serving valid tokens from stale keys while the JWKS is down (within staleMaxAge)', async function () {
    const { http, handled, failures } = await start({
      jwksCache: { cacheMaxAge: 1000, staleMaxAge: 60_000 },
      tokenCache: false,
    });
    as.setBehaviour('jwks', { mode: 'fail' });
    await sleep(1100); // past cacheMaxAge: the next request tries a refresh, which fails

    const res = await http
      .get('/orders')
      .set('Authorization', `Bearer ${await as.sign({ scope: 'orders:read' })}`);
    const again = await http
      .get('/orders')
      .set('Authorization', `Bearer ${await as.sign({ scope: 'orders:read' })}`);

    assert.equal(res.status, 200);
    assert.equal(again.status, 200);
    assert.equal(handled.count, 2);
    assert.equal(as.counters.jwks, 2, 'one failed refresh, not one per request');
    assert.equal(failures.length, 1);
    const [failure] = failures;
    assert.ok(failure !== undefined);
    assert.equal(failure.servingStaleKeys, true);
    assert.equal(failure.trigger, 'expired');
  });

  it('answers 503, not 401, for a new kid while the JWKS is down', async function () {
    const { http } = await start();
    as.setBehaviour('jwks', { mode: 'fail', status: 503 });
    await as.rotateKeys();

    const res = await http
      .get('/orders')
      .set('Authorization', `Bearer ${await as.sign({ scope: 'orders:read' })}`);

    assert.equal(res.status, 503);
    assert.equal(res.headers['retry-after'], '5');
    assert.equal(res.headers['www-authenticate'], undefined);
    assert.deepEqual(res.body, JWKS_UNAVAILABLE);
  });

  it('answers 503 once the stale keys are past staleMaxAge', async function () {
    const { http, handled } = await start({
      jwksCache: { cacheMaxAge: 1000, staleMaxAge: 0 },
      tokenCache: false,
    });
    as.setBehaviour('jwks', { mode: 'fail' });
    await sleep(1100);

    const res = await http
      .get('/orders')
      .set('Authorization', `Bearer ${await as.sign({ scope: 'orders:read' })}`);

    assert.equal(res.status, 503);
    assert.equal(res.headers['retry-after'], '5');
    assert.deepEqual(res.body, JWKS_UNAVAILABLE);
    assert.equal(handled.count, 0);
  });

  describe('several issuers', function () {
    let tenantB: AuthorizationServerStub;
    let stranger: AuthorizationServerStub;

    beforeEach(async function () {
      tenantB = await startAuthorizationServer({
        audience: 'https://orders.example',
        issuerPath: '/tenant-b',
        algorithms: FAST_KEYS,
      });
      stranger = await startAuthorizationServer({
        audience: 'https://orders.example',
        algorithms: FAST_KEYS,
      });
    });

    afterEach(async function () {
      await tenantB.close();
      await stranger.close();
    });

    async function startMulti() {
      const auth = authenticate({
        issuers: [{ issuer: as.issuer }, { issuer: tenantB.issuer }],
        audience: 'https://orders.example',
        realm: 'orders',
        timeout: 2000,
      });
      await auth.ready();
      const service = ordersService(auth);
      return { ...service, http: request(service.app) };
    }

    const traffic = (): number[] =>
      [as, tenantB, stranger].map((stub) => Object.values(stub.counters).reduce((a, b) => a + b, 0));

    it('accepts tokens of each configured issuer, each verified with its own keys', async function () {
      const { http } = await startMulti();

      const fromA = await http
        .get('/orders')
        .set('Authorization', `Bearer ${await as.sign({ scope: 'orders:read' })}`);
      const fromB = await http
        .get('/orders')
        .set('Authorization', `Bearer ${await tenantB.sign({ scope: 'orders:read', sub: 'b-user' })}`);

      assert.equal(fromA.status, 200);
      assert.equal(fromA.body.issuer, as.issuer);
      assert.equal(fromB.status, 200);
      assert.equal(fromB.body.issuer, tenantB.issuer);
      assert.equal(fromB.body.caller, 'b-user');
    });

    it('refuses a token of an issuer that is not configured with 401, and fetches nothing from anyone', async function () {
      const { http, handled } = await startMulti();
      const before = traffic();
      const strangerToken = await stranger.sign({ scope: 'orders:read' });
      const evilToken = await as.bad.wrongIssuer({ scope: 'orders:read' });

      const fromStranger = await http.get('/orders').set('Authorization', `Bearer ${strangerToken}`);
      const fromEvil = await http.get('/orders').set('Authorization', `Bearer ${evilToken}`);

      for (const res of [fromStranger, fromEvil]) {
        assert.equal(res.status, 401);
        assert.equal(res.headers['www-authenticate'], ISSUER_INVALID);
      }
      assert.deepEqual(traffic(), before, 'no stub saw an extra request');
      assert.equal(stranger.counters.jwks + stranger.counters.oauthMetadata, 0);
      assert.equal(handled.count, 0);
    });

    it("refuses a token that names tenant B but is signed with tenant A's key", async function () {
      const { http, handled } = await startMulti();

      const res = await http
        .get('/orders')
        .set('Authorization', `Bearer ${await as.sign({ iss: tenantB.issuer, scope: 'orders:read' })}`);

      assert.equal(res.status, 401);
      assert.match(res.headers['www-authenticate'] ?? '', /^Bearer realm="orders", error="invalid_token", /);
      assert.equal(handled.count, 0);
    });
  });
});
