import assert from 'node:assert/strict';

import { BearerGuard, createGuard } from '@bearer-guard/core';
import type { Principal, ResourceRequest, SingleIssuerOptions } from '@bearer-guard/core';
import { startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub } from '@bearer-guard/testkit';

import { assertBearerError, discoveryCounters, rejection, rejectsWith, thrown } from './helpers.js';

/** Small cache times (the options enforce the minimums); a deadline a loaded machine meets. */
const FAST = { timeout: 2000, jwksCache: { cooldown: 200, cacheMaxAge: 1000 } } as const;

const MISSING_CHALLENGE = 'Bearer realm="api"';
const MALFORMED_CHALLENGE =
  'Bearer realm="api", error="invalid_request", error_description="The Authorization header is not a valid Bearer credential."';

describe('guard: createGuard / BearerGuard', function () {
  let stub: AuthorizationServerStub;

  function guardFor(extra: Partial<SingleIssuerOptions> = {}): BearerGuard {
    return createGuard({
      issuer: stub.issuer,
      audience: stub.audience,
      jwksUri: stub.jwksUri,
      ...FAST,
      ...extra,
    });
  }

  const bearer = (token: string, rest: Partial<ResourceRequest> = {}): ResourceRequest => ({
    method: 'GET',
    ...rest,
    headers: { ...rest.headers, authorization: `Bearer ${token}` },
  });

  before(async function () {
    stub = await startAuthorizationServer();
  });

  after(async function () {
    await stub.close();
  });

  beforeEach(function () {
    stub.resetCounters();
  });

  it('createGuard returns a BearerGuard with the resolved options', function () {
    const guard = guardFor();
    assert.ok(guard instanceof BearerGuard);
    assert.equal(guard.options.realm, 'api');
    assert.equal(guard.options.issuers[0]?.issuer, stub.issuer);
  });

  describe('the principal', function () {
    it('carries the documented fields of a valid token', async function () {
      const token = await stub.sign({
        sub: 'alice',
        client_id: 'web-app',
        azp: 'other',
        scope: 'orders:read orders:write',
        aud: [stub.audience, 'https://other.example'],
        custom: { nested: [1, 2] },
      });
      const principal = await guardFor().verify(token);
      const claims = principal.claims;
      assert.equal(principal.token, token);
      assert.equal(principal.source, 'jwt');
      assert.equal(principal.subject, 'alice');
      assert.equal(principal.clientId, 'web-app');
      assert.equal(principal.issuer, stub.issuer);
      assert.deepEqual(principal.audience, [stub.audience, 'https://other.example']);
      assert.deepEqual(principal.scopes, ['orders:read', 'orders:write']);
      assert.ok(principal.expiresAt instanceof Date);
      assert.equal(principal.expiresAt.getTime(), (claims['exp'] as number) * 1000);
      assert.equal(claims['sub'], 'alice');
      assert.deepEqual(claims['custom'], { nested: [1, 2] });
      // Frozen all the way down: it may be shared between requests.
      assert.ok(Object.isFrozen(principal));
      assert.ok(Object.isFrozen(claims));
      assert.ok(Object.isFrozen(claims['custom']));
      assert.ok(Object.isFrozen(principal.audience));
      assert.ok(Object.isFrozen(principal.scopes));
      assert.equal(Reflect.set(principal.scopes, 0, 'admin'), false);
    });

    it('takes clientId from client_id, then azp, else undefined; a client_id that is not a string is refused', async function () {
      const guard = guardFor();
      assert.equal(
        (await guard.verify(await stub.sign({ client_id: undefined, azp: 'spa' }))).clientId,
        'spa',
      );
      assert.equal((await guard.verify(await stub.sign({ client_id: undefined }))).clientId, undefined);
      // Not a fallback to azp: claims.client_id (42) and clientId ('spa') would disagree.
      await rejectsWith(
        guard.verify(await stub.sign({ client_id: 42, azp: 'spa' })),
        'ERR_BEARER_TOKEN_CLAIM_INVALID',
        401,
      );
    });

    it('gives a string aud as a one-element array and reads scp arrays', async function () {
      const principal = await guardFor().verify(await stub.sign({ scope: undefined, scp: ['a', 'b'] }));
      assert.deepEqual(principal.audience, [stub.audience]);
      assert.deepEqual(principal.scopes, ['a', 'b']);
      assert.equal(principal.subject, 'user-123');
    });

    it('reads permissions only when scopeClaims lists them', async function () {
      const token = await stub.sign({ scope: 'read', permissions: ['orders:delete'] });
      assert.deepEqual((await guardFor().verify(token)).scopes, ['read']);
      assert.deepEqual((await guardFor({ scopeClaims: ['scope', 'permissions'] }).verify(token)).scopes, [
        'read',
        'orders:delete',
      ]);
    });
  });

  describe('authenticate(request)', function () {
    it('validates the Authorization header', async function () {
      const principal = await guardFor().authenticate(bearer(await stub.sign({ sub: 'bob' })));
      assert.equal(principal?.subject, 'bob');
    });

    it('answers a request without a token with 401 and a bare challenge', async function () {
      for (const headers of [{}, { authorization: 'Basic dXNlcjpwYXNz' }, { authorization: 'DPoP abc' }]) {
        const error = await rejectsWith(
          guardFor().authenticate({ headers }),
          'ERR_BEARER_TOKEN_MISSING',
          401,
        );
        assert.equal(error.error, undefined);
        assert.deepEqual(error.headers, { 'WWW-Authenticate': MISSING_CHALLENGE });
        assert.deepEqual(error.toJSON(), { error: 'unauthorized' });
      }
    });

    it('answers a malformed header with 400 invalid_request', async function () {
      for (const authorization of ['Bearer', 'Bearer a b', 'Bearer x, Basic y']) {
        const error = await rejectsWith(
          guardFor().authenticate({ headers: { authorization } }),
          'ERR_BEARER_HEADER_MALFORMED',
          400,
        );
        assert.deepEqual(error.headers, { 'WWW-Authenticate': MALFORMED_CHALLENGE });
      }
    });

    it('uses the configured realm and resource_metadata in every challenge', async function () {
      const guard = guardFor({
        realm: 'orders "v2"',
        resourceMetadata: 'https://api.example/.well-known/oauth-protected-resource',
      });
      const missing = await rejectsWith(guard.authenticate({ headers: {} }), 'ERR_BEARER_TOKEN_MISSING');
      assert.equal(
        missing.headers['WWW-Authenticate'],
        String.raw`Bearer realm="orders \"v2\"", resource_metadata="https://api.example/.well-known/oauth-protected-resource"`,
      );
      const expired = await rejectsWith(
        guard.authenticate(bearer(await stub.bad.expired())),
        'ERR_BEARER_TOKEN_EXPIRED',
      );
      assert.equal(
        expired.headers['WWW-Authenticate'],
        String.raw`Bearer realm="orders \"v2\"", error="invalid_token", error_description="The access token expired.", resource_metadata="https://api.example/.well-known/oauth-protected-resource"`,
      );
    });

    it('credentialsRequired: false lets a request without a token pass, but still refuses bad tokens', async function () {
      const guard = guardFor({ credentialsRequired: false });
      assert.equal(await guard.authenticate({ headers: {} }), undefined);
      await rejectsWith(
        guard.authenticate(bearer(await stub.bad.tampered())),
        'ERR_BEARER_TOKEN_SIGNATURE_INVALID',
        401,
      );
      await rejectsWith(
        guard.authenticate({ headers: { authorization: 'Bearer a b' } }),
        'ERR_BEARER_HEADER_MALFORMED',
        400,
      );
      assert.equal((await guard.authenticate(bearer(await stub.sign({ sub: 'c' }))))?.subject, 'c');
    });

    it('reads the query and form body only when tokenLocations enables them', async function () {
      const token = await stub.sign({ sub: 'q' });
      const inQuery: ResourceRequest = { method: 'GET', headers: {}, query: { access_token: token } };
      await rejectsWith(guardFor().authenticate(inQuery), 'ERR_BEARER_TOKEN_MISSING', 401);
      const queryGuard = guardFor({ tokenLocations: { query: true } });
      assert.equal((await queryGuard.authenticate(inQuery))?.subject, 'q');
      await rejectsWith(
        queryGuard.authenticate({ ...bearer(token), query: { access_token: token } }),
        'ERR_BEARER_MULTIPLE_METHODS',
        400,
      );
      const inBody: ResourceRequest = {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: { access_token: token },
      };
      await rejectsWith(queryGuard.authenticate(inBody), 'ERR_BEARER_TOKEN_MISSING', 401);
      assert.equal((await guardFor({ tokenLocations: { body: true } }).authenticate(inBody))?.subject, 'q');
    });
  });

  describe('authenticateNow(request): synchronous where no I/O is needed', function () {
    it('answers a cached token with the principal itself, an uncached one with a promise', async function () {
      const guard = guardFor({ tokenCache: { admission: 'first-use' } });
      const request = bearer(await stub.sign({ sub: 'now' }));
      const first = guard.authenticateNow(request);
      assert.ok(first instanceof Promise, 'not verified yet: a promise');
      const principal = await first;
      const again = guard.authenticateNow(request);
      assert.equal(again, principal, 'cached: the very principal, synchronously');
      assert.equal(guard.authenticateCached(request), principal);
    });

    it('throws at once for no token or a malformed header, and rejects a bad signature', async function () {
      const guard = guardFor();
      assert.equal(guardFor({ credentialsRequired: false }).authenticateNow({ headers: {} }), undefined);
      assertBearerError(
        thrown(() => guard.authenticateNow({ headers: {} })),
        'ERR_BEARER_TOKEN_MISSING',
        401,
      );
      const malformed = assertBearerError(
        thrown(() => guard.authenticateNow({ headers: { authorization: 'Bearer a b' } })),
        'ERR_BEARER_HEADER_MALFORMED',
        400,
      );
      assert.deepEqual(malformed.headers, { 'WWW-Authenticate': MALFORMED_CHALLENGE });
      const forged = await stub.bad.tampered();
      const pending = guard.authenticateNow(bearer(forged));
      assert.ok(pending instanceof Promise);
      await rejectsWith(pending, 'ERR_BEARER_TOKEN_SIGNATURE_INVALID', 401);
    });
  });

  describe('requireScopes / requireAudience', function () {
    let principal: Principal;

    before(async function () {
      principal = await guardFor().verify(await stub.sign({ scope: 'orders:read profile' }));
    });

    it("'all' passes with every scope and answers 403 insufficient_scope naming them otherwise", function () {
      const guard = guardFor();
      guard.requireScopes(principal, ['orders:read'], 'all');
      guard.requireScopes(principal, ['orders:read', 'profile'], 'all');
      const error = assertBearerError(
        thrown(() => {
          guard.requireScopes(principal, ['orders:read', 'orders:write'], 'all');
        }),
        'ERR_BEARER_INSUFFICIENT_SCOPE',
        403,
      );
      assert.equal(error.error, 'insufficient_scope');
      assert.equal(error.scope, 'orders:read orders:write');
      assert.deepEqual(error.headers, {
        'WWW-Authenticate':
          'Bearer realm="api", error="insufficient_scope", error_description="The access token does not carry the scope this resource requires.", scope="orders:read orders:write"',
      });
    });

    it("'any' passes with one of them", function () {
      const guard = guardFor();
      guard.requireScopes(principal, ['admin', 'profile'], 'any');
      assertBearerError(
        thrown(() => {
          guard.requireScopes(principal, ['admin', 'ORDERS:READ', 'orders'], 'any');
        }),
        'ERR_BEARER_INSUFFICIENT_SCOPE',
        403,
      );
    });

    it('without a principal answers the missing-credentials 401', function () {
      const error = assertBearerError(
        thrown(() => {
          guardFor().requireScopes(undefined, ['a'], 'all');
        }),
        'ERR_BEARER_TOKEN_MISSING',
        401,
      );
      assert.deepEqual(error.headers, { 'WWW-Authenticate': MISSING_CHALLENGE });
    });

    it('requireAudience checks aud against the route’s audiences', function () {
      const guard = guardFor();
      guard.requireAudience(principal, [stub.audience]);
      guard.requireAudience(principal, ['https://x.example', stub.audience]);
      const error = assertBearerError(
        thrown(() => {
          guard.requireAudience(principal, ['https://billing.example']);
        }),
        'ERR_BEARER_TOKEN_AUDIENCE_INVALID',
        401,
      );
      assert.equal(
        error.headers['WWW-Authenticate'],
        'Bearer realm="api", error="invalid_token", error_description="The access token is not meant for this resource."',
      );
      assertBearerError(
        thrown(() => {
          guard.requireAudience(undefined, [stub.audience]);
        }),
        'ERR_BEARER_TOKEN_MISSING',
        401,
      );
    });
  });

  describe('several issuers', function () {
    let other: AuthorizationServerStub;

    before(async function () {
      other = await startAuthorizationServer({
        algorithms: ['RS256'],
        audience: 'https://other-api.example',
      });
    });

    after(async function () {
      await other.close();
    });

    beforeEach(function () {
      other.resetCounters();
    });

    function twoIssuers(): BearerGuard {
      return createGuard({
        audience: stub.audience,
        issuers: [
          { issuer: stub.issuer, jwksUri: stub.jwksUri },
          { issuer: other.issuer, jwksUri: other.jwksUri, audience: other.audience },
        ],
        ...FAST,
      });
    }

    it('validates each issuer’s tokens with its own keys and audience', async function () {
      const guard = twoIssuers();
      assert.equal((await guard.verify(await stub.sign())).issuer, stub.issuer);
      assert.equal((await guard.verify(await other.sign())).issuer, other.issuer);
      // Each issuer has its own audience.
      await rejectsWith(
        guard.verify(await other.sign({ aud: stub.audience })),
        'ERR_BEARER_TOKEN_AUDIENCE_INVALID',
        401,
      );
      assert.equal(stub.counters.jwks, 1);
      assert.equal(other.counters.jwks, 1);
    });

    it('never checks a token against another issuer’s keys', async function () {
      const guard = twoIssuers();
      await guard.ready();
      // Signed by `other`, claiming to be from `stub`: looked up in stub's keys only.
      await rejectsWith(
        guard.verify(await other.sign({ iss: stub.issuer, aud: stub.audience })),
        'ERR_BEARER_TOKEN_KEY_UNKNOWN',
        401,
      );
      assert.equal(other.counters.jwks, 1, 'only the ready() load');
    });

    it('an unknown iss is refused without any fetch', async function () {
      const guard = twoIssuers();
      for (const token of [
        await stub.bad.wrongIssuer(),
        await stub.sign({ iss: `${stub.issuer}/` }),
        await stub.sign({ iss: 7 }),
      ]) {
        await rejectsWith(guard.verify(token), 'ERR_BEARER_TOKEN_ISSUER_INVALID', 401);
      }
      // No `iss` at all is a missing claim, as with a single issuer.
      await rejectsWith(
        guard.verify(await stub.sign({ iss: undefined })),
        'ERR_BEARER_TOKEN_CLAIM_INVALID',
        401,
      );
      await rejectsWith(guard.verify('not-a-jwt'), 'ERR_BEARER_TOKEN_MALFORMED', 401);
      assert.deepEqual(discoveryCounters(stub), {
        jwks: 0,
        oauthMetadata: 0,
        openidConfiguration: 0,
        attackerJwks: 0,
      });
      assert.deepEqual(discoveryCounters(other), {
        jwks: 0,
        oauthMetadata: 0,
        openidConfiguration: 0,
        attackerJwks: 0,
      });
    });

    it('ready() loads every issuer’s keys', async function () {
      await twoIssuers().ready();
      assert.equal(stub.counters.jwks, 1);
      assert.equal(other.counters.jwks, 1);
    });
  });

  describe('a single issuer', function () {
    it('refuses a token with an unknown iss and an unknown kid without fetching', async function () {
      const guard = guardFor();
      await guard.ready();
      assert.equal(stub.counters.jwks, 1);
      await rejectsWith(
        guard.verify(await stub.bad.unknownKid({ iss: 'https://evil.example' })),
        'ERR_BEARER_TOKEN_ISSUER_INVALID',
        401,
      );
      assert.equal(stub.counters.jwks, 1, 'an unknown iss never causes a fetch');
      // The immediate refetch for a new kid is still available for a real key.
      const kid = await stub.addKey('ES256');
      await guard.verify(await stub.sign({}, { kid }));
      assert.equal(stub.counters.jwks, 2);
    });

    it('reports a missing iss as a missing claim', async function () {
      await rejectsWith(
        guardFor().verify(await stub.sign({ iss: undefined })),
        'ERR_BEARER_TOKEN_CLAIM_INVALID',
        401,
      );
    });
  });

  describe('events', function () {
    it('a throwing listener never fails a request, and off() unsubscribes', async function () {
      const guard = guardFor();
      let calls = 0;
      const listener = (): void => {
        calls += 1;
        throw new Error('listener bug');
      };
      guard.on('keys.loaded', listener);
      await guard.verify(await stub.sign());
      assert.equal(calls, 1);
      guard.off('keys.loaded', listener);
      await guard.ready();
      assert.equal(calls, 1);
    });
  });

  describe('ready()', function () {
    it('resolves without any request for local keys', async function () {
      await guardFor({ jwksUri: undefined, jwks: stub.jwks() }).ready();
      await guardFor({ jwksUri: undefined, publicKey: await stub.publicKeyPem() }).ready();
      assert.equal(stub.counters.jwks, 0);
    });

    it('rejects with ERR_BEARER_CONFIG_ISSUER_UNUSABLE naming the issuer when the keys cannot be loaded', async function () {
      stub.setBehaviour('jwks', { mode: 'fail' });
      try {
        const error = await rejection(guardFor().ready());
        assert.ok(error instanceof TypeError);
        assert.equal((error as { code?: string }).code, 'ERR_BEARER_CONFIG_ISSUER_UNUSABLE');
        assert.ok(error.message.includes(stub.issuer));
      } finally {
        stub.setBehaviour('jwks', { mode: 'ok' });
      }
    });
  });
});
