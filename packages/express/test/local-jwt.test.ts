/**
 * Local JWT validation over HTTP: media types of `typ`, claim types, `iat` in the future, several
 * keys matching a token, key-bound tokens, and cached tokens whose key was withdrawn.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';

import { authenticate, errorHandler } from '@bearer-guard/express';
import type { SingleIssuerOptions } from '@bearer-guard/express';
import { startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub } from '@bearer-guard/testkit';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import request from 'supertest';

import { DESCRIPTION, invalidToken, nowSeconds, probe, TIMEOUT } from './support.js';

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

describe('local JWT validation over HTTP', function () {
  let as: AuthorizationServerStub;

  beforeEach(async function () {
    as = await startAuthorizationServer({ algorithms: ['ES256'] });
  });

  afterEach(async function () {
    await as.close();
  });

  /** GET /orders behind a fresh guard; `codes` records the code of every error on the way out. */
  function orders(options: Partial<SingleIssuerOptions> = {}) {
    const route = probe();
    const codes: unknown[] = [];
    const app = express();
    app.set('env', 'test');
    app.use(
      authenticate({
        issuer: as.issuer,
        audience: as.audience,
        jwksUri: as.jwksUri,
        timeout: TIMEOUT,
        ...options,
      }),
    );
    app.get('/orders', route.handler);
    app.use((error: { code?: unknown }, _req: Request, _res: Response, next: NextFunction) => {
      codes.push(error.code);
      next(error);
    });
    app.use(errorHandler());
    const get = (token: string) => request(app).get('/orders').set('Authorization', `Bearer ${token}`);
    return { app, route, codes, get };
  }

  function assertRefused(res: request.Response, codes: unknown[], code: string, description: string): void {
    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], invalidToken(description));
    assert.equal(codes.at(-1), code);
  }

  describe('typ is a media type (RFC 7515 §4.1.9)', function () {
    it("accepts JWT, application/jwt, at+jwt, application/at+jwt in any case; with profile 'rfc9068' only the at+jwt ones", async function () {
      const lenient = orders();
      const strict = orders({ profile: 'rfc9068' });
      for (const typ of [
        'application/jwt',
        'Application/JWT',
        'JWT',
        'jwt',
        'AT+JWT',
        'application/At+Jwt',
      ]) {
        assert.equal((await lenient.get(await as.sign({}, { typ }))).status, 200, typ);
      }
      // jose's `typ` option compares media types already: any case, "application/" optional.
      for (const typ of ['AT+JWT', 'Application/At+Jwt']) {
        assert.equal((await strict.get(await as.sign({}, { typ }))).status, 200, typ);
      }
      for (const typ of ['application/jwt', 'APPLICATION/JWT', 'JWT']) {
        assertRefused(
          await strict.get(await as.sign({}, { typ })),
          strict.codes,
          'ERR_BEARER_TOKEN_TYPE_INVALID',
          DESCRIPTION.typeInvalid,
        );
      }
    });
  });

  describe('claim types', function () {
    it("profile 'rfc9068': sub, client_id, jti strings, iat a number, else 401 CLAIM_INVALID", async function () {
      const { get, codes, route } = orders({ profile: 'rfc9068' });
      for (const claims of [
        { sub: 1 },
        { sub: null },
        { client_id: {} },
        { client_id: ['x'] },
        { jti: true },
      ]) {
        assertRefused(
          await get(await as.sign(claims)),
          codes,
          'ERR_BEARER_TOKEN_CLAIM_INVALID',
          DESCRIPTION.claimInvalid,
        );
      }
      assert.equal(route.calls, 0);
    });

    it('default profile: a sub or client_id that is not a string never reaches req.auth', async function () {
      const { get, codes, route } = orders();
      for (const claims of [{ sub: 1 }, { client_id: { id: 'x' } }]) {
        assertRefused(
          await get(await as.sign(claims)),
          codes,
          'ERR_BEARER_TOKEN_CLAIM_INVALID',
          DESCRIPTION.claimInvalid,
        );
      }
      assert.equal(route.calls, 0);
    });
  });

  it('an iat beyond clockTolerance in the future → 401 NOT_YET_VALID, with or without maxTokenAge', async function () {
    for (const extra of [{}, { maxTokenAge: 3600 }]) {
      const { get, codes } = orders({ clockTolerance: 5, ...extra });
      const future = await as.sign({}, { issuedAt: nowSeconds() + 120 });
      assertRefused(await get(future), codes, 'ERR_BEARER_TOKEN_NOT_YET_VALID', DESCRIPTION.notYetValid);
      assert.equal((await get(await as.sign({}, { issuedAt: nowSeconds() + 2 }))).status, 200);
    }
  });

  describe('several keys of a remote JWKS match one token', function () {
    it('a duplicate kid during a rotation: each candidate is tried', async function () {
      const oldKid = as.jwks().keys[0]?.['kid'] as string;
      const next = await as.addKey('ES256', { publish: false, kid: 'next' });
      const stranger = await as.addKey('ES256', { publish: false, kid: 'stranger' });
      as.setBehaviour('jwks', {
        mode: 'json',
        body: { keys: [as.publicJwk(oldKid), { ...as.publicJwk(next), kid: oldKid }] },
      });
      const { get, codes } = orders();
      assert.equal((await get(await as.sign({}, { kid: next, header: { kid: oldKid } }))).status, 200);
      assert.equal((await get(await as.sign({}, { kid: oldKid }))).status, 200);
      assertRefused(
        await get(await as.sign({}, { kid: stranger, header: { kid: oldKid } })),
        codes,
        'ERR_BEARER_TOKEN_SIGNATURE_INVALID',
        DESCRIPTION.signatureInvalid,
      );
    });

    it('kid-less keys and a kid-less token', async function () {
      const first = as.jwks().keys[0]?.['kid'] as string;
      const second = await as.addKey('ES256', { publish: false });
      const kidless = (kid: string) => ({ ...as.publicJwk(kid), kid: undefined });
      as.setBehaviour('jwks', { mode: 'json', body: { keys: [kidless(first), kidless(second)] } });
      const { get } = orders();
      for (const kid of [first, second]) {
        assert.equal((await get(await as.sign({}, { kid, header: { kid: undefined } }))).status, 200);
      }
    });
  });

  describe('a key set whose key for the token cannot be used', function () {
    // jose imports a key when a token selects it: a broken or hostile server's JWK fails there.
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' });
    const unusable: [string, (jwk: Record<string, unknown>) => Record<string, unknown>][] = [
      ['a point off the curve', (jwk) => ({ ...jwk, x: 'AAAA' })],
      ['a P-384 point labelled P-256', (jwk) => ({ ...p384, crv: 'P-256', kid: jwk['kid'] })],
      ['no y', (jwk) => ({ ...jwk, y: undefined })],
      ['a private key', (jwk) => ({ ...jwk, d: 'c2VjcmV0LXNjYWxhci1ub3QtYS1yZWFsLWtleS0xMjM' })],
    ];

    for (const [label, breakKey] of unusable) {
      it(`${label}: 503 with Retry-After (the token may be good), never 500 or 401`, async function () {
        const jwk = as.publicJwk();
        as.setBehaviour('jwks', { mode: 'json', body: { keys: [breakKey(jwk)] } });
        const { get, codes, route } = orders();
        const token = await as.sign();

        for (const res of [await get(token), await get(token)]) {
          assert.equal(res.status, 503);
          assert.ok(Number(res.headers['retry-after']) >= 1);
          assert.equal(res.headers['www-authenticate'], undefined);
          assert.deepEqual(res.body, {
            error: 'temporarily_unavailable',
            error_description: DESCRIPTION.jwksUnavailable,
          });
        }
        assert.deepEqual(codes, ['ERR_BEARER_JWKS_UNAVAILABLE', 'ERR_BEARER_JWKS_UNAVAILABLE']);
        assert.equal(route.calls, 0);
        // Also after an unknown-kid refetch that brings such a key.
        as.setBehaviour('jwks', { mode: 'ok' });
        const fresh = await as.rotateKeys('ES256');
        as.setBehaviour('jwks', { mode: 'json', body: { keys: [breakKey(as.publicJwk(fresh))] } });
        const res = await get(await as.sign({}, { kid: fresh }));
        assert.equal(res.status, 503);
        assert.equal(codes.at(-1), 'ERR_BEARER_JWKS_UNAVAILABLE');
      });
    }
  });

  describe('sender-constrained tokens are not bearer tokens', function () {
    it('cnf.jkt (RFC 9449 §6) or cnf.x5t#S256 (RFC 8705 §3) → 401 SENDER_CONSTRAINED; other cnf members alone pass', async function () {
      const { get, codes, route } = orders();
      for (const cnf of [
        { jkt: 'thumbprint' },
        { 'x5t#S256': 'thumbprint' },
        { jkt: 'thumbprint', kid: 'k' },
      ]) {
        assertRefused(
          await get(await as.sign({ cnf })),
          codes,
          'ERR_BEARER_TOKEN_SENDER_CONSTRAINED',
          DESCRIPTION.senderConstrained,
        );
      }
      assert.equal(route.calls, 0);
      assert.equal((await get(await as.sign({ cnf: { kid: 'k' } }))).status, 200);
      assert.equal((await get(await as.sign({ cnf: { jwk: { kty: 'EC' } } }))).status, 200);
    });
  });

  describe('a cached token whose key is withdrawn', function () {
    const cacheOptions = {
      tokenCache: { admission: 'first-use' },
      jwksCache: { cacheMaxAge: 1000, cooldown: 200, staleMaxAge: 0 },
    } as const;

    it('is refused once an unknown-kid refetch loads a set without its key; a key still there keeps its hit', async function () {
      const { get, codes, route } = orders(cacheOptions);
      const oldKid = as.jwks().keys[0]?.['kid'] as string;
      const staying = await as.addKey('ES256', { kid: 'staying' });
      const withdrawn = await as.sign({ sub: 'old', exp: nowSeconds() + 30 * 86_400 });
      const kept = await as.sign({ sub: 'kept' }, { kid: staying });
      assert.equal((await get(withdrawn)).status, 200);
      assert.equal((await get(kept)).status, 200);
      const keptPrincipal = route.principals.at(-1);

      await as.rotateKeys('ES256', { retireOld: true }); // the old key leaves the set
      assert.equal(
        as.jwks().keys.some((jwk) => jwk['kid'] === oldKid),
        false,
      );
      // A token of the new key: an unknown kid, so the set is refetched at once.
      assert.equal((await get(await as.sign({ sub: 'new' }))).status, 200);

      assertRefused(await get(withdrawn), codes, 'ERR_BEARER_TOKEN_KEY_UNKNOWN', DESCRIPTION.keyUnknown);
      assertRefused(await get(withdrawn), codes, 'ERR_BEARER_TOKEN_KEY_UNKNOWN', DESCRIPTION.keyUnknown);
      assert.equal((await get(kept)).status, 200);
      assert.equal(
        route.principals.at(-1),
        keptPrincipal,
        'still the cached principal: no second verification',
      );
    });

    it('is refused after cacheMaxAge, when the next request reloads the set, even if every request is a hit', async function () {
      const { get, codes } = orders(cacheOptions);
      const withdrawn = await as.sign({ sub: 'old' });
      assert.equal((await get(withdrawn)).status, 200);
      assert.equal((await get(withdrawn)).status, 200);
      const jwksFetches = as.counters.jwks;

      await as.rotateKeys('ES256', { retireOld: true });
      await sleep(1100); // past cacheMaxAge
      assertRefused(await get(withdrawn), codes, 'ERR_BEARER_TOKEN_KEY_UNKNOWN', DESCRIPTION.keyUnknown);
      assert.ok(as.counters.jwks > jwksFetches, 'the cached token itself made the set reload');
    });

    it('is refused with 503, like an uncached token, once the set is past staleMaxAge', async function () {
      const { get, codes } = orders(cacheOptions);
      const token = await as.sign();
      assert.equal((await get(token)).status, 200);
      as.setBehaviour('jwks', { mode: 'fail' });
      await sleep(1100); // past cacheMaxAge + staleMaxAge (0)
      const res = await get(token);
      assert.equal(res.status, 503);
      assert.equal(codes.at(-1), 'ERR_BEARER_JWKS_UNAVAILABLE');
    });
  });
});
