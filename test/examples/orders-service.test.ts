import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startAuthorizationServer, type AuthorizationServerStub } from '@bearer-guard/testkit';
import request from 'supertest';
import {
  createApp,
  loadOrdersConfig,
  OrdersConfigError,
  start,
  type RunningOrdersService,
} from '@bearer-guard/example-orders-service';

const AUDIENCE = 'https://orders.fleet.example';
const MAIN = fileURLToPath(new URL('../../examples/orders-service/dist/main.js', import.meta.url));
const INSUFFICIENT_SCOPE = (scope: string): string =>
  'Bearer realm="api", error="insufficient_scope", ' +
  `error_description="The access token does not carry the scope this resource requires.", scope="${scope}"`;

describe('examples/orders-service', () => {
  let as: AuthorizationServerStub;
  let service: RunningOrdersService;

  before(async () => {
    as = await startAuthorizationServer({ audience: AUDIENCE, algorithms: ['ES256'] });
    service = await start(loadOrdersConfig({ AS_ISSUER: as.issuer, ORDERS_PORT: '0' }));
  });
  after(async () => {
    await service.close();
    await as.close();
  });

  const bearer = async (claims: Record<string, unknown>): Promise<string> =>
    `Bearer ${await as.sign(claims)}`;

  describe('reading', () => {
    it('lists the orders of a patient to a token with orders:read', async () => {
      const res = await request(service.url)
        .get('/orders?patient=123')
        .set('Authorization', await bearer({ scope: 'orders:read' }))
        .expect(200)
        .expect('content-type', /^application\/json/);
      assert.deepEqual(
        res.body.orders.map((order: { id: string }) => order.id),
        ['ord-1001', 'ord-1002'],
      );
      assert.ok(res.body.orders.every((order: { patient: string }) => order.patient === '123'));
    });

    it('reads one order by id, and answers 404 JSON for an unknown one', async () => {
      const authorization = await bearer({ scope: 'orders:read' });
      const res = await request(service.url)
        .get('/orders/ord-1003')
        .set('Authorization', authorization)
        .expect(200);
      assert.equal(res.body.patient, '456');
      const missing = await request(service.url)
        .get('/orders/nope')
        .set('Authorization', authorization)
        .expect(404);
      assert.deepEqual(missing.body, { error: 'not_found' });
    });

    it('refuses a repeated patient parameter with 400', async () => {
      const res = await request(service.url)
        .get('/orders?patient=123&patient=456')
        .set('Authorization', await bearer({ scope: 'orders:read' }))
        .expect(400);
      assert.equal(res.body.error, 'invalid_request');
    });
  });

  describe('refusing', () => {
    it('answers 403 insufficient_scope naming orders:read', async () => {
      const res = await request(service.url)
        .get('/orders')
        .set('Authorization', await bearer({ scope: 'orders:write' }))
        .expect(403);
      assert.equal(res.headers['www-authenticate'], INSUFFICIENT_SCOPE('orders:read'));
      assert.equal(res.body.error, 'insufficient_scope');
    });

    it('answers 401 with a bare challenge without a token, and keeps /health open', async () => {
      const res = await request(service.url).get('/orders').expect(401);
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="api"');
      await request(service.url).get('/health').expect(200, { status: 'ok' });
    });

    it('answers 401 invalid_token to a token for another audience', async () => {
      const token = await as.sign({ scope: 'orders:read', aud: 'https://fhir.fleet.example/r4' });
      const res = await request(service.url)
        .get('/orders')
        .set('Authorization', `Bearer ${token}`)
        .expect(401);
      assert.equal(
        res.headers['www-authenticate'],
        'Bearer realm="api", error="invalid_token", error_description="The access token is not meant for this resource."',
      );
    });

    it('answers 401 to an expired token', async () => {
      const token = await as.bad.expired({ scope: 'orders:read' });
      await request(service.url).get('/orders').set('Authorization', `Bearer ${token}`).expect(401);
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
      writer = await bearer({ scope: 'orders:write orders:read', client_id: 'gateway' });
    });

    it('creates an order: 201 with the order and its Location, then readable', async () => {
      const res = await request(service.url)
        .post('/orders')
        .set('Authorization', writer)
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
        .set('Authorization', writer)
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
          .set('Authorization', writer)
          .send(body as object);
        assert.equal(res.status, 400);
        assert.deepEqual(res.body, { error: 'invalid_request', details });
      });
    }

    it('answers 400 to malformed JSON', async () => {
      const res = await request(service.url)
        .post('/orders')
        .set('Authorization', writer)
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
        .set('Authorization', writer)
        .type('form')
        .send('patient=123')
        .expect(400);
      assert.equal(res.body.error, 'invalid_request');
      assert.equal(res.body.details[0].path, '');
    });

    it('checks the scope before the body: 403 for orders:read only, even with a malformed body', async () => {
      const res = await request(service.url)
        .post('/orders')
        .set('Authorization', await bearer({ scope: 'orders:read' }))
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
        rateLimitPerMinute: 600,
        redisUrl: undefined,
        allowInsecureHttp: false,
      });
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

    it('main.js holds no secret, so NODE_ENV=production has nothing to refuse: it starts', () => {
      assert.doesNotThrow(() => loadOrdersConfig({ NODE_ENV: 'production', AS_ISSUER: as.issuer }));
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
