import assert from 'node:assert/strict';

import { authenticate, errorHandler } from '@bearer-guard/express';
import type { IntrospectionOptions } from '@bearer-guard/express';
import { startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub } from '@bearer-guard/testkit';
import express from 'express';
import request from 'supertest';

import { assertErrorBody, DESCRIPTION, invalidToken, probe, TIMEOUT } from './support.js';

/** The same bytes as a segment whose last character holds pad bits, that character changed (RFC 4648 §3.5). */
function samePadBits(segment: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  return segment.slice(0, -1) + (alphabet[alphabet.indexOf(segment.at(-1) ?? 'A') ^ 1] ?? '');
}

/**
 * Other spellings of a JWS that pass RFC 6750's b64token: `==` after the signature (which `atob`,
 * and so jose, decodes to the same bytes), a signature whose last character differs in its pad bits
 * only (the same bytes again), and a header a lenient decoder still reads with a `~` in it.
 */
function respellings(token: string): string[] {
  const [header = '', payload = '', signature = ''] = token.split('.');
  return [
    `${token}==`,
    `${header}.${payload}.${samePadBits(signature)}`,
    `~${header}.${payload}.${signature}`,
  ];
}

/** The stub's counters of everything a guard can call: keys, metadata, introspection. */
function calls(as: AuthorizationServerStub): number {
  const { jwks, oauthMetadata, openidConfiguration, introspection } = as.counters;
  return jwks + oauthMetadata + openidConfiguration + introspection;
}

describe('authenticate(): how a token is routed (local JWT validation or introspection)', function () {
  let as: AuthorizationServerStub;
  let other: AuthorizationServerStub;

  before(async function () {
    as = await startAuthorizationServer();
    other = await startAuthorizationServer();
  });

  after(async function () {
    await as.close();
    await other.close();
  });

  beforeEach(function () {
    as.resetCounters();
    other.resetCounters();
  });

  /** GET /orders behind a fresh guard of `as` with `introspection` (none when `null`). */
  function api(
    introspection: Partial<IntrospectionOptions> | null,
    // May turn the single-issuer shape into a multi-issuer one (`issuers`).
    options: Record<string, unknown> = {},
    server: AuthorizationServerStub = as,
  ) {
    const route = probe();
    const app = express();
    app.set('env', 'test');
    const auth = authenticate({
      issuer: server.issuer,
      audience: server.audience,
      timeout: TIMEOUT,
      ...(introspection === null
        ? {}
        : {
            introspection: {
              clientId: server.introspectionClient.clientId,
              clientSecret: server.introspectionClient.clientSecret,
              timeout: TIMEOUT,
              ...introspection,
            },
          }),
      ...options,
    });
    app.use(auth);
    app.get('/orders', route.handler);
    app.use(errorHandler());
    return { app, route, auth };
  }

  const get = (app: express.Express, token: string) =>
    request(app).get('/orders').set('Authorization', `Bearer ${token}`);

  async function assertRefused(app: express.Express, token: string, description: string): Promise<void> {
    const res = await get(app, token);
    assert.equal(res.status, 401, token);
    assert.equal(res.headers['www-authenticate'], invalidToken(description));
    assertErrorBody(res.body, 'invalid_token', description);
  }

  describe('a JWS of no configured issuer is refused locally, without any call', function () {
    const configurations: [string, Partial<IntrospectionOptions> | null, Record<string, unknown>][] = [
      ['issuer + introspection (the default routing)', {}, {}],
      ['issuer + introspection + jwksUri', {}, { jwksUri: '' }],
      ['issuer + introspection with localJwts: false', { localJwts: false }, {}],
      ['issuer + introspection with introspectJwts', { introspectJwts: true }, {}],
      ['issuer + jwksUri, no introspection', null, { jwksUri: '' }],
    ];
    for (const [name, introspection, options] of configurations) {
      it(name, async function () {
        const { app, route } = api(
          introspection,
          options.jwksUri === undefined ? options : { ...options, jwksUri: as.jwksUri },
        );
        // Signed by the server's own key, so only `iss` can refuse it; and by another server.
        const foreign = [
          await as.sign({ iss: other.issuer }),
          await as.sign({ iss: 'https://evil.example' }),
          await other.sign({ aud: as.audience }),
          await as.sign({ iss: 7 }),
        ];
        for (const token of foreign) await assertRefused(app, token, DESCRIPTION.issuerInvalid);
        // No `iss` at all: a missing claim, refused just as locally.
        await assertRefused(app, await as.sign({ iss: undefined }), DESCRIPTION.claimInvalid);
        assert.equal(calls(as), 0, 'no introspection call, no key or metadata fetch');
        assert.equal(calls(other), 0);
        assert.equal(route.calls, 0);
      });
    }
  });

  describe('issuer + introspection, no key source', function () {
    it('validates a JWS of the issuer locally, with the keys at the discovered jwks_uri', async function () {
      const { app, route, auth } = api({});
      const jwt = await as.sign({ sub: 'jwt-user' });

      const res = await get(app, jwt);

      assert.equal(res.status, 200);
      assert.equal(route.principals[0]?.source, 'jwt');
      assert.equal(as.counters.introspection, 0);
      assert.equal(as.counters.jwks, 1);

      const opaque = await get(app, as.issueOpaqueToken({ sub: 'opaque-user' }));

      assert.equal(opaque.status, 200);
      assert.equal(route.principals[1]?.source, 'introspection');
      assert.equal(as.counters.introspection, 1);
      // A JWS signed by someone else but naming the issuer: refused by the key set, not introspected.
      await assertRefused(
        app,
        await other.sign({ iss: as.issuer, aud: as.audience }),
        DESCRIPTION.keyUnknown,
      );
      assert.equal(as.counters.introspection, 1);
      await auth.guard.ready();
    });

    it('introspects the issuer’s JWS when its metadata has no jwks_uri (ready() still succeeds)', async function () {
      const keyless = await startAuthorizationServer({ metadata: { jwks_uri: undefined } });
      try {
        const { app, route, auth } = api({}, {}, keyless);
        await auth.guard.ready();
        const res = await get(app, await keyless.sign({ sub: 'jwt-user' }));

        assert.equal(res.status, 200);
        assert.equal(route.principals[0]?.source, 'introspection');
        assert.equal(keyless.counters.introspection, 1);
        assert.equal(keyless.counters.jwks, 0);
        // A JWS of another issuer is still refused without a call.
        await assertRefused(app, await keyless.sign({ iss: as.issuer }), DESCRIPTION.issuerInvalid);
        assert.equal(keyless.counters.introspection, 1);
      } finally {
        await keyless.close();
      }
    });

    it('with localJwts: false introspects the issuer’s JWS and fetches no keys', async function () {
      const { app, route } = api({ localJwts: false });
      const res = await get(app, await as.sign());

      assert.equal(res.status, 200);
      assert.equal(route.principals[0]?.source, 'introspection');
      assert.equal(as.counters.introspection, 1);
      assert.equal(as.counters.jwks, 0);
    });

    it('introspectJwts applies to the introspecting issuer’s JWTs only', async function () {
      const { app, route } = api(
        { introspectJwts: true, cache: false },
        {
          issuer: undefined,
          audience: as.audience,
          issuers: [
            { issuer: other.issuer, jwksUri: other.jwksUri },
            {
              issuer: as.issuer,
              introspection: {
                clientId: as.introspectionClient.clientId,
                clientSecret: as.introspectionClient.clientSecret,
                introspectJwts: true,
                cache: false,
              },
            },
          ],
          introspection: undefined,
        },
      );
      // `other` has no introspection: asking `as` about its token could only answer "inactive".
      const res = await get(app, await other.sign({ aud: as.audience }));

      assert.equal(res.status, 200);
      assert.equal(route.principals[0]?.source, 'jwt');
      assert.equal(as.counters.introspection, 0);
      assert.equal((await get(app, await as.sign())).status, 200);
      assert.equal(as.counters.introspection, 1);
    });
  });

  describe('one token, one encoding', function () {
    it('with introspectJwts, a revoked JWT spelt another way is refused as malformed, without a call', async function () {
      const { app, route } = api({ introspectJwts: true, cache: false });
      const jwt = await as.sign();
      assert.equal((await get(app, jwt)).status, 200);
      as.revoke(jwt);
      await assertRefused(app, jwt, 'The access token is not active.');
      const before = calls(as);

      for (const variant of respellings(jwt)) await assertRefused(app, variant, DESCRIPTION.malformed);

      assert.equal(calls(as), before);
      assert.equal(route.calls, 1);
    });

    it('with localJwts: false, a JWT spelt another way is never sent to the introspection endpoint', async function () {
      const { app, route } = api({ localJwts: false, cache: false });
      const jwt = await as.sign();

      for (const variant of respellings(jwt)) await assertRefused(app, variant, DESCRIPTION.malformed);

      assert.equal(calls(as), 0);
      assert.equal(route.calls, 0);
    });

    it('a JWT-only guard refuses the same spellings as malformed, before fetching keys', async function () {
      const { app, route } = api(null, { jwksUri: as.jwksUri });
      const jwt = await as.sign();

      for (const variant of respellings(jwt)) await assertRefused(app, variant, DESCRIPTION.malformed);

      assert.equal(calls(as), 0);
      assert.equal((await get(app, jwt)).status, 200);
      assert.equal(route.calls, 1);
    });

    it('still introspects opaque tokens, whatever base64url or b64token characters they hold', async function () {
      const { app, route } = api({});
      const opaque = [as.issueOpaqueToken(), as.issueOpaqueToken()];
      for (const token of opaque) assert.equal((await get(app, token)).status, 200);
      // Dots, "~", "+", "/" and padding: opaque all the same, as no JOSE header starts it.
      const unknown = await get(app, 'v4.public.bm90LWEtand0~+/==');
      assert.equal(unknown.status, 401);
      assert.equal(unknown.headers['www-authenticate'], invalidToken('The access token is not active.'));
      assert.equal(as.counters.introspection, 3);
      assert.equal(route.calls, 2);
    });
  });
});
