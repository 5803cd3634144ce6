import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import { authenticate, errorHandler, requireScopes } from '@bearer-guard/express';
import type { SingleIssuerOptions } from '@bearer-guard/express';
import { startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub } from '@bearer-guard/testkit';
import express from 'express';
import request from 'supertest';

import {
  DESCRIPTION,
  invalidRequest,
  invalidToken,
  nowSeconds,
  probe,
  rawRequest,
  signEs256,
  timed,
  TIMEOUT,
} from './support.js';

/** Every hostile request must be answered well within this (ms): no hang, no expensive path. */
const QUICK = 1500;

const ISSUER = 'https://as.example';
const AUDIENCE = 'https://orders.example';

describe('hostile input', function () {
  let as: AuthorizationServerStub;
  // A key of our own, for claims sets no JOSE library will serialize.
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const baseClaims = (): string =>
    `"iss":"${ISSUER}","aud":"${AUDIENCE}","sub":"mallory","exp":${String(nowSeconds() + 300)}`;

  before(async function () {
    as = await startAuthorizationServer();
  });

  after(async function () {
    await as.close();
  });

  function target(options: Partial<SingleIssuerOptions> = {}) {
    const route = probe();
    const app = express();
    app.set('env', 'test');
    app.use(express.urlencoded({ extended: false, limit: '4mb' }));
    app.use(
      authenticate({
        issuer: as.issuer,
        audience: as.audience,
        jwksUri: as.jwksUri,
        timeout: TIMEOUT,
        tokenLocations: { body: true },
        ...options,
      }),
    );
    app.all('/orders', route.handler);
    app.get('/admin', requireScopes('admin'), route.handler);
    app.use(errorHandler());
    return { app, route };
  }

  /** The same, verifying tokens signed with our own P-256 key. */
  function ownKeyTarget() {
    return target({ issuer: ISSUER, audience: AUDIENCE, jwksUri: undefined, publicKey });
  }

  async function get(app: express.Express, authorization: string) {
    return timed(async () => request(app).get('/orders').set('Authorization', authorization));
  }

  describe('oversized and random tokens', function () {
    it('refuses an 8 KB random b64token with 401 invalid_token', async function () {
      const { app, route } = target();
      const token = randomBytes(6144).toString('base64url');
      assert.equal(token.length, 8192);

      const { result: res, ms } = await get(app, `Bearer ${token}`);

      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], invalidToken(DESCRIPTION.malformed));
      assert.equal(route.calls, 0);
      assert.ok(ms < QUICK, `${String(ms)} ms`);
    });

    it('refuses an 8 KB random JWS-shaped token (three random segments) with 401', async function () {
      const { app, route } = target();
      const segment = (): string => randomBytes(2040).toString('base64url');
      const token = `${segment()}.${segment()}.${segment()}`;

      const { result: res, ms } = await get(app, `Bearer ${token}`);

      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], invalidToken(DESCRIPTION.malformed));
      assert.equal(route.calls, 0);
      assert.ok(ms < QUICK, `${String(ms)} ms`);
    });

    it('answers near-miss headers built to make a regex backtrack with 400, quickly', async function () {
      const { app, route } = target();

      for (const value of [
        `Bearer ${'a'.repeat(8000)}!`,
        `Bearer ${'='.repeat(8000)}a`,
        `Bearer${' '.repeat(4000)}${'a'.repeat(4000)} x`,
      ]) {
        const { result: res, ms } = await get(app, value);
        assert.equal(res.status, 400);
        assert.equal(res.headers['www-authenticate'], invalidRequest(DESCRIPTION.headerMalformed));
        assert.ok(ms < QUICK, `${String(ms)} ms`);
      }
      assert.equal(route.calls, 0);
    });

    it('lets Node itself answer 431 to a header beyond its 16 KB limit; the app never runs', async function () {
      const { app, route } = target();
      const token = await as.sign({ blob: 'x'.repeat(20_000) });

      const { result: res } = await get(app, `Bearer ${token}`);

      assert.equal(res.status, 431);
      assert.equal(route.calls, 0);
    });

    it('verifies a validly signed token with a ~1 MB claims set sent in a form body', async function () {
      const { app, route } = target();
      const token = await as.sign({ blob: 'x'.repeat(1_000_000) });
      assert.ok(token.length > 1_300_000);

      const { result: res, ms } = await timed(async () =>
        request(app).post('/orders').type('form').send({ access_token: token }),
      );

      assert.equal(res.status, 200);
      assert.equal(route.calls, 1);
      assert.ok(ms < 5000, `${String(ms)} ms`);
    });

    it('refuses a tampered ~1 MB token with 401 invalid_token', async function () {
      const { app, route } = target();
      const token = await as.bad.tampered({ blob: 'x'.repeat(1_000_000) });

      const res = await request(app).post('/orders').type('form').send({ access_token: token });

      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], invalidToken(DESCRIPTION.signatureInvalid));
      assert.equal(route.calls, 0);
    });
  });

  describe('odd bytes and schemes', function () {
    it('refuses latin1 junk after "Bearer" with 400', async function () {
      const { app, route } = target();
      // obs-text (0x80-0xFF) is what Node lets through in a header value.
      const junk = Buffer.from(Array.from({ length: 512 }, (_, i) => 0x80 + ((i * 37) % 0x80))).toString(
        'latin1',
      );

      const res = await rawRequest(app, 'GET /orders HTTP/1.1', [`Authorization: Bearer ${junk}`]);

      assert.equal(res.status, 400);
      assert.equal(res.headers['www-authenticate'], invalidRequest(DESCRIPTION.headerMalformed));
      assert.equal(route.calls, 0);
    });

    it('treats a value of pure binary junk as no bearer credentials: 401 bare', async function () {
      const { app, route } = target();
      const junk = Buffer.from(Array.from({ length: 256 }, (_, i) => 0xa0 + (i % 0x60))).toString('latin1');

      const res = await rawRequest(app, 'GET /orders HTTP/1.1', [`Authorization: ${junk}`]);

      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="api"');
      assert.equal(route.calls, 0);
    });

    it('never lets a control character reach the app (Node answers 400 itself)', async function () {
      const { app, route } = target();

      const res = await rawRequest(app, 'GET /orders HTTP/1.1', ['Authorization: Bearer abc\u0000def']);

      assert.equal(res.status, 400);
      assert.equal(route.calls, 0);
    });

    it('refuses "Bearer <token>, Basic xyz" with 400, even with a valid token', async function () {
      const { app, route } = target();

      const junk = await get(app, 'Bearer abc, Basic xyz');
      const valid = await get(app, `Bearer ${await as.sign()}, Basic xyz`);

      for (const { result: res } of [junk, valid]) {
        assert.equal(res.status, 400);
        assert.equal(res.headers['www-authenticate'], invalidRequest(DESCRIPTION.headerMalformed));
      }
      assert.equal(route.calls, 0);
    });

    it('treats "Basic xyz, Bearer <token>" as another scheme: 401 bare, even with a valid token', async function () {
      const { app, route } = target();

      const junk = await get(app, 'Basic xyz, Bearer abc');
      const valid = await get(app, `Basic xyz, Bearer ${await as.sign()}`);

      for (const { result: res } of [junk, valid]) {
        assert.equal(res.status, 401);
        assert.equal(res.headers['www-authenticate'], 'Bearer realm="api"');
      }
      assert.equal(route.calls, 0);
    });

    it('refuses a Bearer credential separated by a tab with 400, even with a valid token (RFC 9110 §11.4: 1*SP)', async function () {
      const { app, route } = target();
      const token = await as.sign();

      for (const value of [`Bearer\t${token}`, `Bearer\t ${token}`]) {
        const { result: res } = await get(app, value);
        assert.equal(res.status, 400, JSON.stringify(value.slice(0, 8)));
        assert.equal(res.headers['www-authenticate'], invalidRequest(DESCRIPTION.headerMalformed));
      }
      assert.equal(route.calls, 0);
    });

    it('refuses a token made only of "=" with 400', async function () {
      const { app, route } = target();

      for (const value of ['Bearer =', 'Bearer ====']) {
        const { result: res } = await get(app, value);
        assert.equal(res.status, 400);
        assert.equal(res.headers['www-authenticate'], invalidRequest(DESCRIPTION.headerMalformed));
      }
      assert.equal(route.calls, 0);
    });

    it('matches the scheme case-insensitively (RFC 9110 §11.1): "bearer" and "BEARER" work, junk is still 401', async function () {
      const { app, route } = target();
      const token = await as.sign();

      const lower = await get(app, `bearer ${token}`);
      const upper = await get(app, `BEARER ${token}`);
      const junk = await get(app, 'bearer abc.def.ghi');

      assert.equal(lower.result.status, 200);
      assert.equal(upper.result.status, 200);
      assert.equal(route.calls, 2);
      assert.equal(junk.result.status, 401);
      assert.equal(junk.result.headers['www-authenticate'], invalidToken(DESCRIPTION.malformed));
    });
  });

  describe('repeated Authorization header', function () {
    // Node keeps only the first Authorization line in req.headers; a proxy in front may have looked
    // at another one. A repeated credential must be refused, never half-read.
    it('refuses two Bearer lines with 400, even when both tokens are valid', async function () {
      const { app, route } = target();
      const alice = await as.sign({ sub: 'alice' });
      const bob = await as.sign({ sub: 'bob' });

      const res = await rawRequest(app, 'GET /orders HTTP/1.1', [
        `Authorization: Bearer ${alice}`,
        `authorization: Bearer ${bob}`,
      ]);

      assert.equal(res.status, 400);
      assert.equal(res.headers['www-authenticate'], invalidRequest(DESCRIPTION.headerMalformed));
      assert.equal(route.calls, 0);
    });

    it('refuses the same token sent twice with 400', async function () {
      const { app, route } = target();
      const token = await as.sign();

      const res = await rawRequest(app, 'GET /orders HTTP/1.1', [
        `Authorization: Bearer ${token}`,
        `Authorization: Bearer ${token}`,
      ]);

      assert.equal(res.status, 400);
      assert.equal(route.calls, 0);
    });

    it('refuses a Basic line followed by a valid Bearer line with 400', async function () {
      const { app, route } = target();

      const res = await rawRequest(app, 'GET /orders HTTP/1.1', [
        'Authorization: Basic dXNlcjpwYXNz',
        `Authorization: Bearer ${await as.sign()}`,
      ]);

      assert.equal(res.status, 400);
      assert.equal(route.calls, 0);
    });

    it('still accepts a single Authorization line sent raw', async function () {
      const { app, route } = target();

      const res = await rawRequest(app, 'GET /orders HTTP/1.1', [`Authorization: Bearer ${await as.sign()}`]);

      assert.equal(res.status, 200);
      assert.equal(route.calls, 1);
    });
  });

  describe('token structure', function () {
    it('refuses a JWS with an unknown critical header parameter (crit) with 401', async function () {
      const { app, route } = target();
      const token = await as.sign(
        {},
        { header: { crit: ['urn:example:must-understand'], 'urn:example:must-understand': 1 } },
      );

      const { result: res } = await get(app, `Bearer ${token}`);

      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], invalidToken(DESCRIPTION.malformed));
      assert.equal(route.calls, 0);
    });

    it('refuses a JWE-shaped five-part token with 401', async function () {
      const { app, route } = target();
      const header = Buffer.from(
        JSON.stringify({ alg: 'RSA-OAEP-256', enc: 'A256GCM', typ: 'at+jwt' }),
      ).toString('base64url');
      const part = (): string => randomBytes(32).toString('base64url');
      const jwe = `${header}.${part()}.${part()}.${part()}.${part()}`;

      const { result: res } = await get(app, `Bearer ${jwe}`);

      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], invalidToken(DESCRIPTION.malformed));
      assert.equal(route.calls, 0);
    });

    it('refuses two-part, four-part and empty-payload variants of a valid token with 401', async function () {
      const { app, route } = target();
      const valid = await as.sign();
      const [h = '', p = '', sig = ''] = valid.split('.');

      for (const [token, description] of [
        [`${h}.${p}`, DESCRIPTION.malformed],
        [`${valid}.${p}`, DESCRIPTION.malformed],
        // No claims set to route by (compact-jws.ts): refused before any key is looked up.
        [`${h}..${sig}`, DESCRIPTION.malformed],
      ] as const) {
        const { result: res } = await get(app, `Bearer ${token}`);
        assert.equal(res.status, 401);
        assert.equal(res.headers['www-authenticate'], invalidToken(description));
      }
      assert.equal(route.calls, 0);
    });

    it('refuses validly signed claims sets that are not JSON objects with 401', async function () {
      const { app, route } = ownKeyTarget();

      for (const payload of ['[]', '"orders"', 'null', '42', `{${baseClaims()}`]) {
        const { result: res } = await get(app, `Bearer ${signEs256(privateKey, payload)}`);
        assert.equal(res.status, 401, payload);
        assert.equal(res.headers['www-authenticate'], invalidToken(DESCRIPTION.malformed));
      }
      assert.equal(route.calls, 0);
    });

    it('does not let a "__proto__" claim grant scopes or pollute prototypes', async function () {
      const { app, route } = ownKeyTarget();
      const token = signEs256(privateKey, `{${baseClaims()},"__proto__":{"scope":"admin","polluted":true}}`);

      const res = await request(app).get('/admin').set('Authorization', `Bearer ${token}`);

      assert.equal(res.status, 403);
      assert.equal(route.calls, 0);
      assert.equal((Object.prototype as Record<string, unknown>)['polluted'], undefined);
      assert.equal(({} as Record<string, unknown>)['scope'], undefined);
    });

    it('refuses a hostile kid (path traversal, 4 KB) with 401 and at most one key-set refetch', async function () {
      const { app, route } = target();
      await request(app)
        .get('/orders')
        .set('Authorization', `Bearer ${await as.sign()}`); // load the key set
      const before = as.counters.jwks;

      for (const kid of ['../../../etc/passwd', 'k'.repeat(4096), '', '*']) {
        const { result: res, ms } = await get(app, `Bearer ${await as.sign({}, { header: { kid } })}`);
        assert.equal(res.status, 401, kid.slice(0, 20));
        assert.equal(res.headers['www-authenticate'], invalidToken(DESCRIPTION.keyUnknown));
        assert.ok(ms < QUICK, `${String(ms)} ms`);
      }
      assert.equal(route.calls, 1);
      assert.ok(as.counters.jwks - before <= 1, `JWKS fetched ${String(as.counters.jwks - before)} times`);
    });
  });

  describe('deeply nested claims', function () {
    const nested = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;

    it('verifies a validly signed token nested 4000 levels deep within the header limit', async function () {
      const { app, route } = ownKeyTarget();
      const token = signEs256(privateKey, `{${baseClaims()},"n":${nested(4000)}}`);
      assert.ok(token.length < 16_000);

      const { result: res, ms } = await get(app, `Bearer ${token}`);

      assert.equal(res.status, 200);
      assert.equal(route.calls, 1);
      assert.ok(ms < QUICK, `${String(ms)} ms`);
    });

    it('refuses a badly signed token nested 400 000 levels deep with 401, before parsing it', async function () {
      const { app, route } = ownKeyTarget();
      const token = signEs256(privateKey, `{${baseClaims()},"n":${nested(400_000)}}`);
      const forged = `${token.slice(0, token.lastIndexOf('.'))}.${randomBytes(64).toString('base64url')}`;

      const { result: res, ms } = await timed(async () =>
        request(app).post('/orders').type('form').send({ access_token: forged }),
      );

      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], invalidToken(DESCRIPTION.signatureInvalid));
      assert.equal(route.calls, 0);
      assert.ok(ms < QUICK * 2, `${String(ms)} ms`);
    });

    it('refuses a token whose protected header is nested 400 000 levels deep with 401', async function () {
      const { app, route } = ownKeyTarget();
      const token = signEs256(privateKey, `{${baseClaims()}}`, { deep: JSON.parse(nested(1)) as unknown });
      const [, payload = '', signature = ''] = token.split('.');
      const header = Buffer.from(`{"alg":"ES256","deep":${nested(400_000)}}`).toString('base64url');

      const res = await request(app)
        .post('/orders')
        .type('form')
        .send({ access_token: `${header}.${payload}.${signature}` });

      assert.equal(res.status, 401);
      assert.equal(route.calls, 0);
    });

    // Regression: core's deepFreeze() of the principal used to recurse once per nesting level, so a
    // validly signed token nested ~10 000 levels deep (27 KB: a form body, or a header on a server with
    // a larger --max-http-header-size) overflowed the stack and the request ended in a 500.
    it('answers a validly signed token nested 20 000 levels deep with 200 or 401, never 500', async function () {
      const { app, route } = ownKeyTarget();
      const token = signEs256(privateKey, `{${baseClaims()},"n":${nested(20_000)}}`);

      const res = await request(app).post('/orders').type('form').send({ access_token: token });

      assert.ok(res.status === 200 || res.status === 401, `expected 200 or 401, got ${String(res.status)}`);
      assert.equal(route.calls, res.status === 200 ? 1 : 0);
    });
  });
});
