import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  createDpopProof,
  generateDpopKey,
  startAuthorizationServer,
  type AuthorizationServerStub,
  type DpopKey,
} from '@bearer-guard/testkit';
import request from 'supertest';
import {
  createApp,
  DEV_DPOP_NONCE_SECRET,
  loadOrdersConfig,
  OrdersConfigError,
  start,
  type RunningOrdersService,
} from '@bearer-guard/example-orders-service';

const AUDIENCE = 'https://orders.fleet.example';
/** Where the tests say the service is (ORDERS_PUBLIC_URL): every proof's htu starts with it. */
const PUBLIC_URL = 'https://orders.test.example';
const MAIN = fileURLToPath(new URL('../../examples/orders-service/dist/main.js', import.meta.url));
const ALGS = 'algs="ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA Ed25519"';
const METADATA = `resource_metadata="${PUBLIC_URL}/.well-known/oauth-protected-resource"`;
const INSUFFICIENT_SCOPE = (scope: string): string =>
  'DPoP error="insufficient_scope", ' +
  `error_description="The access token does not carry the scope this resource requires.", scope="${scope}", ${ALGS}, ${METADATA}`;

describe('examples/orders-service', () => {
  let as: AuthorizationServerStub;
  let service: RunningOrdersService;
  let key: DpopKey;
  let nonce: string | undefined;

  before(async () => {
    as = await startAuthorizationServer({ audience: AUDIENCE, algorithms: ['ES256'] });
    service = await start(
      loadOrdersConfig({ AS_ISSUER: as.issuer, ORDERS_PORT: '0', ORDERS_PUBLIC_URL: PUBLIC_URL }),
    );
    key = await generateDpopKey();
  });
  after(async () => {
    await service.close();
    await as.close();
  });

  /** A JWT access token bound to the test's DPoP key (cnf.jkt, RFC 9449 §6.1). */
  const bound = (claims: Record<string, unknown>): Promise<string> => as.sign({ ...claims, ...key.cnf });
  const proof = (method: string, path: string, token: string): Promise<string> =>
    createDpopProof(key, { htm: method, htu: `${PUBLIC_URL}${path}`, accessToken: token, nonce });

  /**
   * The headers of a DPoP call of `method` `path` with `token`: `Authorization: DPoP` and a new proof
   * carrying the service's nonce, got once (a nonce is good for its minute and the next).
   */
  async function dpop(method: string, path: string, token: string): Promise<Record<string, string>> {
    if (nonce === undefined) {
      const res = await request(service.url)
        .get('/orders')
        .set({ Authorization: `DPoP ${token}`, DPoP: await proof('GET', '/orders', token) })
        .expect(401);
      nonce = String(res.headers['dpop-nonce']);
    }
    return { Authorization: `DPoP ${token}`, DPoP: await proof(method, path, token) };
  }
  const reader = async (method = 'GET', path = '/orders'): Promise<Record<string, string>> =>
    dpop(method, path, await bound({ scope: 'orders:read' }));

  describe('reading', () => {
    it('lists the orders of a patient to a token with orders:read', async () => {
      const res = await request(service.url)
        .get('/orders?patient=123')
        .set(await reader('GET', '/orders?patient=123'))
        .expect(200)
        .expect('content-type', /^application\/json/);
      assert.deepEqual(
        res.body.orders.map((order: { id: string }) => order.id),
        ['ord-1001', 'ord-1002'],
      );
      assert.ok(res.body.orders.every((order: { patient: string }) => order.patient === '123'));
    });

    it('reads one order by id, and answers 404 JSON for an unknown one', async () => {
      const res = await request(service.url)
        .get('/orders/ord-1003')
        .set(await reader('GET', '/orders/ord-1003'))
        .expect(200);
      assert.equal(res.body.patient, '456');
      const missing = await request(service.url)
        .get('/orders/nope')
        .set(await reader('GET', '/orders/nope'))
        .expect(404);
      assert.deepEqual(missing.body, { error: 'not_found' });
    });

    it('refuses a repeated patient parameter with 400', async () => {
      const res = await request(service.url)
        .get('/orders?patient=123&patient=456')
        .set(await reader('GET', '/orders?patient=123&patient=456'))
        .expect(400);
      assert.equal(res.body.error, 'invalid_request');
    });
  });

  describe('refusing', () => {
    it('answers 403 insufficient_scope naming orders:read', async () => {
      const res = await request(service.url)
        .get('/orders')
        .set(await dpop('GET', '/orders', await bound({ scope: 'orders:write' })))
        .expect(403);
      assert.equal(res.headers['www-authenticate'], INSUFFICIENT_SCOPE('orders:read'));
      assert.equal(res.body.error, 'insufficient_scope');
    });

    it('answers 401 with a bare challenge without a token, and keeps /health open', async () => {
      const res = await request(service.url).get('/orders').expect(401);
      // dpop.required: the challenge offers DPoP only (RFC 9449 §7.1), and names the metadata (RFC 9728 §5.1).
      assert.equal(res.headers['www-authenticate'], `DPoP ${ALGS}, ${METADATA}`);
      await request(service.url).get('/health').expect(200, { status: 'ok' });
    });

    it('answers 401 invalid_token to a token for another audience', async () => {
      const token = await bound({ scope: 'orders:read', aud: 'https://fhir.fleet.example/r4' });
      const res = await request(service.url)
        .get('/orders')
        .set(await dpop('GET', '/orders', token))
        .expect(401);
      assert.equal(
        res.headers['www-authenticate'],
        `DPoP error="invalid_token", error_description="The access token is not meant for this resource.", ${ALGS}, ${METADATA}`,
      );
    });

    it('answers 401 to an expired token', async () => {
      const token = await as.bad.expired({ scope: 'orders:read', ...key.cnf });
      await request(service.url)
        .get('/orders')
        .set(await dpop('GET', '/orders', token))
        .expect(401);
    });

    it('refuses an unbound bearer token: DPoP is required', async () => {
      const token = await as.sign({ scope: 'orders:read' });
      const res = await request(service.url)
        .get('/orders')
        .set('Authorization', `Bearer ${token}`)
        .expect(401);
      assert.equal(
        res.headers['www-authenticate'],
        `Bearer realm="api", error="invalid_token", error_description="This resource requires a DPoP-bound access token.", ${METADATA}, DPoP ${ALGS}, ${METADATA}`,
      );
    });

    it('refuses a DPoP-bound token sent as a bearer token (a stolen token, RFC 9449 §7.2)', async () => {
      const token = await bound({ scope: 'orders:read' });
      const res = await request(service.url)
        .get('/orders')
        .set({ Authorization: `Bearer ${token}`, DPoP: await proof('GET', '/orders', token) })
        .expect(401);
      assert.match(
        String(res.headers['www-authenticate']),
        /error="invalid_token", error_description="The access token is bound to a key and cannot be used as a bearer token."/,
      );
    });

    it('refuses a replayed proof', async () => {
      const headers = await reader();
      await request(service.url).get('/orders').set(headers).expect(200);
      const replay = await request(service.url).get('/orders').set(headers).expect(401);
      assert.equal(
        replay.headers['www-authenticate'],
        `DPoP error="invalid_dpop_proof", error_description="The DPoP proof was already used.", ${ALGS}, ${METADATA}`,
      );
    });

    it('asks for its nonce (use_dpop_nonce + DPoP-Nonce), and refuses a proof for another URL', async () => {
      const token = await bound({ scope: 'orders:read' });
      const noNonce = await request(service.url)
        .get('/orders')
        .set({
          Authorization: `DPoP ${token}`,
          DPoP: await createDpopProof(key, { htm: 'GET', htu: `${PUBLIC_URL}/orders`, accessToken: token }),
        })
        .expect(401);
      assert.equal(
        noNonce.headers['www-authenticate'],
        `DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof", ${METADATA}`,
      );
      assert.match(String(noNonce.headers['dpop-nonce']), /^[\w-]{16,}$/);
      assert.equal(noNonce.headers['cache-control'], 'no-store');
      const elsewhere = await createDpopProof(key, {
        htm: 'GET',
        htu: `${service.url}/orders`,
        accessToken: token,
        nonce,
      });
      const res = await request(service.url)
        .get('/orders')
        .set({ Authorization: `DPoP ${token}`, DPoP: elsewhere })
        .expect(401);
      assert.match(String(res.headers['www-authenticate']), /^DPoP error="invalid_dpop_proof"/);
    });

    it('serves its RFC 9728 metadata, open', async () => {
      const res = await request(service.url)
        .get('/.well-known/oauth-protected-resource')
        .expect(200)
        .expect('content-type', /^application\/json/);
      assert.deepEqual(res.body, {
        resource: PUBLIC_URL,
        authorization_servers: [as.issuer],
        scopes_supported: ['orders:read', 'orders:write'],
        bearer_methods_supported: ['header'],
        resource_name: 'Orders',
        dpop_signing_alg_values_supported: ALGS.slice(6, -1).split(' '),
        dpop_bound_access_tokens_required: true,
      });
    });

    it('sets helmet headers', async () => {
      const res = await request(service.url).get('/health').expect(200);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['x-powered-by'], undefined);
    });
  });

  describe('POST /orders', () => {
    const valid = { patient: '123', items: [{ sku: 'bp-cuff-m', quantity: 2 }] };
    let writer: string;
    before(async () => {
      writer = await bound({ scope: 'orders:write orders:read', client_id: 'gateway' });
    });

    it('creates an order: 201 with the order and its Location, then readable', async () => {
      const res = await request(service.url)
        .post('/orders')
        .set(await dpop('POST', '/orders', writer))
        .send(valid)
        .expect(201);
      assert.match(res.body.id, /^ord-[0-9a-f-]{36}$/);
      assert.equal(res.headers['location'], `/orders/${res.body.id}`);
      assert.deepEqual(
        { patient: res.body.patient, items: res.body.items, status: res.body.status, by: res.body.createdBy },
        { ...valid, status: 'placed', by: 'gateway' },
      );
      const read = await request(service.url)
        .get(`/orders/${res.body.id}`)
        .set(await dpop('GET', `/orders/${String(res.body.id)}`, writer))
        .expect(200);
      assert.deepEqual(read.body, res.body);
    });

    const invalid: [string, unknown, { path: string; message: string }[]][] = [
      [
        'a missing patient',
        { items: valid.items },
        [{ path: 'patient', message: 'must be a non-empty string.' }],
      ],
      [
        'a quantity of 0',
        { patient: '123', items: [{ sku: 'x', quantity: 0 }] },
        [{ path: 'items[0].quantity', message: 'must be a positive integer.' }],
      ],
      [
        'a fractional quantity and an empty sku',
        { patient: '123', items: [{ sku: '', quantity: 1.5 }] },
        [
          { path: 'items[0].sku', message: 'must be a non-empty string.' },
          { path: 'items[0].quantity', message: 'must be a positive integer.' },
        ],
      ],
      [
        'an extra field',
        { ...valid, discount: 100 },
        [{ path: 'discount', message: 'is not a field of an order; expected patient, items.' }],
      ],
      [
        'an extra item field',
        { patient: '123', items: [{ sku: 'x', quantity: 1, price: 0 }] },
        [{ path: 'items[0].price', message: 'is not a field of an item; expected sku, quantity.' }],
      ],
      [
        'no items',
        { patient: '123', items: [] },
        [{ path: 'items', message: 'must be a non-empty array of { sku, quantity }.' }],
      ],
      ['an array body', [valid], [{ path: '', message: 'must be a JSON object { patient, items }.' }]],
    ];
    for (const [name, body, details] of invalid) {
      it(`answers 400 invalid_request with details for ${name}`, async () => {
        const res = await request(service.url)
          .post('/orders')
          .set(await dpop('POST', '/orders', writer))
          .send(body as object);
        assert.equal(res.status, 400);
        assert.deepEqual(res.body, { error: 'invalid_request', details });
      });
    }

    it('answers 400 to malformed JSON', async () => {
      const res = await request(service.url)
        .post('/orders')
        .set(await dpop('POST', '/orders', writer))
        .set('Content-Type', 'application/json')
        .send('{"patient": "123",')
        .expect(400);
      assert.deepEqual(res.body, {
        error: 'invalid_request',
        details: [{ path: '', message: 'is not valid JSON.' }],
      });
    });

    it('answers 400 to another content type', async () => {
      const res = await request(service.url)
        .post('/orders')
        .set(await dpop('POST', '/orders', writer))
        .type('form')
        .send('patient=123')
        .expect(400);
      assert.equal(res.body.error, 'invalid_request');
      assert.equal(res.body.details[0].path, '');
    });

    it('checks the scope before the body: 403 for orders:read only, even with a malformed body', async () => {
      const res = await request(service.url)
        .post('/orders')
        .set(await reader('POST', '/orders'))
        .set('Content-Type', 'application/json')
        .send('{')
        .expect(403);
      assert.equal(res.headers['www-authenticate'], INSUFFICIENT_SCOPE('orders:write'));
    });
  });

  describe('rate limit', () => {
    it('answers 429 JSON with Retry-After past RATE_LIMIT_PER_MINUTE, before authenticating', async () => {
      const { app } = createApp(loadOrdersConfig({ AS_ISSUER: as.issuer, RATE_LIMIT_PER_MINUTE: '2' }));
      await request(app).get('/orders').expect(401);
      await request(app).get('/orders').expect(401);
      const res = await request(app).get('/orders').expect(429);
      assert.deepEqual(res.body, { error: 'rate_limited' });
      assert.match(String(res.headers['retry-after']), /^\d+$/);
      await request(app).get('/health').expect(200);
    });
  });

  describe('configuration', () => {
    it('has the documented defaults', () => {
      assert.deepEqual(loadOrdersConfig({}), {
        port: 4200,
        host: '127.0.0.1',
        issuer: 'http://127.0.0.1:4000',
        audience: AUDIENCE,
        jwksUri: undefined,
        publicUrl: 'http://127.0.0.1:4200',
        dpopNonceSecret: DEV_DPOP_NONCE_SECRET,
        rateLimitPerMinute: 600,
        allowInsecureHttp: false,
      });
      assert.equal(
        loadOrdersConfig({ ORDERS_PUBLIC_URL: 'https://orders.example.com/api/' }).publicUrl,
        'https://orders.example.com/api',
      );
    });

    it('accepts an http issuer beyond loopback only with ALLOW_INSECURE_HTTP=true (a private demo network)', () => {
      const env = { AS_ISSUER: 'http://authorization-server:4000', ALLOW_INSECURE_HTTP: 'true' };
      const config = loadOrdersConfig(env);
      assert.equal(config.allowInsecureHttp, true);
      assert.doesNotThrow(() => createApp(config));
      assert.throws(() => loadOrdersConfig({ ...env, ALLOW_INSECURE_HTTP: 'false' }), {
        variable: 'AS_ISSUER',
      });
    });

    const wrong: [Record<string, string>, string, RegExp][] = [
      [
        { ORDERS_PORT: '70000' },
        'ORDERS_PORT',
        /^ORDERS_PORT must be an integer from 0 to 65535; got "70000"\.$/,
      ],
      [{ ORDERS_PORT: '' }, 'ORDERS_PORT', /^ORDERS_PORT is set but empty/],
      [{ ORDERS_HOST: 'a host' }, 'ORDERS_HOST', /^ORDERS_HOST must be a host name or IP address/],
      [{ AS_ISSUER: 'not a url' }, 'AS_ISSUER', /^AS_ISSUER must be an https URL/],
      [{ AS_ISSUER: 'http://as.example.com' }, 'AS_ISSUER', /^AS_ISSUER must be an https URL/],
      [{ AS_ISSUER: 'https://as.example.com/?x=1' }, 'AS_ISSUER', /^AS_ISSUER must not contain/],
      [{ ORDERS_AUDIENCE: 'orders' }, 'ORDERS_AUDIENCE', /^ORDERS_AUDIENCE must be an absolute URI/],
      [{ ORDERS_JWKS_URI: 'ftp://x' }, 'ORDERS_JWKS_URI', /^ORDERS_JWKS_URI must be an https URL/],
      [
        { ORDERS_PUBLIC_URL: 'orders' },
        'ORDERS_PUBLIC_URL',
        /^ORDERS_PUBLIC_URL must be an absolute http\(s\) URL/,
      ],
      [
        { ORDERS_PUBLIC_URL: 'https://o.example/?a=1' },
        'ORDERS_PUBLIC_URL',
        /^ORDERS_PUBLIC_URL must not contain/,
      ],
      [
        { ORDERS_DPOP_NONCE_SECRET: 'short-secret' },
        'ORDERS_DPOP_NONCE_SECRET',
        /^ORDERS_DPOP_NONCE_SECRET must be at least 32 bytes long; got 12\.$/,
      ],
      [
        { NODE_ENV: 'production' },
        'ORDERS_DPOP_NONCE_SECRET',
        /^ORDERS_DPOP_NONCE_SECRET is required when NODE_ENV=production/,
      ],
      [
        { NODE_ENV: 'production', ORDERS_DPOP_NONCE_SECRET: DEV_DPOP_NONCE_SECRET },
        'ORDERS_DPOP_NONCE_SECRET',
        /is the published development-only value/,
      ],
      [
        { RATE_LIMIT_PER_MINUTE: '0' },
        'RATE_LIMIT_PER_MINUTE',
        /^RATE_LIMIT_PER_MINUTE must be an integer from 1/,
      ],
      [
        { ALLOW_INSECURE_HTTP: 'yes' },
        'ALLOW_INSECURE_HTTP',
        /^ALLOW_INSECURE_HTTP must be "true" or "false"/,
      ],
      [
        { RATE_LIMIT_PER_MINUTE: '1e3' },
        'RATE_LIMIT_PER_MINUTE',
        /^RATE_LIMIT_PER_MINUTE must be an integer/,
      ],
    ];
    for (const [env, variable, message] of wrong) {
      it(`names ${variable} for ${JSON.stringify(env)}`, () => {
        assert.throws(() => loadOrdersConfig(env), {
          name: 'OrdersConfigError',
          code: 'ERR_ORDERS_CONFIG',
          variable,
          message,
        });
        assert.throws(() => loadOrdersConfig(env), OrdersConfigError);
      });
    }

    it('main.js exits 1 with the message naming the variable', async () => {
      const run = promisify(execFile)(process.execPath, [MAIN], {
        env: { PATH: process.env['PATH'], ORDERS_PORT: 'http' },
      });
      await assert.rejects(run, (error: { code?: unknown; stderr?: unknown }) => {
        assert.equal(error.code, 1);
        assert.equal(error.stderr, 'ORDERS_PORT must be an integer from 0 to 65535; got "http".\n');
        return true;
      });
    });

    it('takes a nonce secret of its own when NODE_ENV=production', () => {
      const secret = 'a-nonce-secret-of-our-own-0123456789abcdef';
      const config = loadOrdersConfig({
        NODE_ENV: 'production',
        AS_ISSUER: as.issuer,
        ORDERS_DPOP_NONCE_SECRET: secret,
      });
      assert.equal(config.dpopNonceSecret, secret);
    });

    it('main.js tells a launcher (IPC) where it listens, and stops when the launcher goes away', async () => {
      const child = spawn(process.execPath, [MAIN], {
        env: { PATH: process.env['PATH'], AS_ISSUER: as.issuer, ORDERS_PORT: '0' },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      });
      // Killed here if an assertion fails or no message comes: a service left running holds its port.
      try {
        const [message] = (await once(child, 'message', { signal: AbortSignal.timeout(15_000) })) as [
          { type: string; url: string },
        ];
        assert.equal(message.type, 'listening');
        assert.equal((await fetch(`${message.url}/health`)).status, 200);
        child.disconnect();
        const [code] = await once(child, 'exit');
        assert.equal(code, 0);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    });

    it('start() rejects, without listening, when the issuer is unreachable', async () => {
      const gone = await startAuthorizationServer();
      await gone.close();
      await assert.rejects(start(loadOrdersConfig({ AS_ISSUER: gone.issuer, ORDERS_PORT: '0' })), {
        name: 'ConfigurationError',
        code: 'ERR_BEARER_CONFIG_ISSUER_UNUSABLE',
      });
    });
  });
});
