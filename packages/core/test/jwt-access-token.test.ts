import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';

import { CompactSign, SignJWT, UnsecuredJWT } from 'jose';

import { createGuard, RFC9068_REQUIRED_CLAIMS } from '@bearer-guard/core';
import type { BearerGuard, SingleIssuerOptions } from '@bearer-guard/core';
import { startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub } from '@bearer-guard/testkit';

import { discoveryCounters, nowSeconds, rejectsWith } from './helpers.js';

/** The bound on keys tried for one token (MAX_CANDIDATE_KEYS in jwt-access-token.ts, documented in the README). */
const MAX_CANDIDATE_KEYS = 4;

/** Small cache times (the options enforce the minimums); a deadline a loaded machine meets. */
const FAST = { timeout: 2000, jwksCache: { cooldown: 200, cacheMaxAge: 1000 } } as const;

describe('jwt-access-token: validating JWT access tokens (RFC 9068 §4, RFC 8725)', function () {
  let stub: AuthorizationServerStub;

  /** A guard for the stub's issuer and audience, keys from its JWKS URL, plus `extra`. */
  function guardFor(extra: Partial<SingleIssuerOptions> = {}): BearerGuard {
    return createGuard({
      issuer: stub.issuer,
      audience: stub.audience,
      jwksUri: stub.jwksUri,
      ...FAST,
      ...extra,
    });
  }

  before(async function () {
    stub = await startAuthorizationServer();
  });

  after(async function () {
    await stub.close();
  });

  beforeEach(function () {
    stub.resetCounters();
  });

  it('accepts a valid token', async function () {
    const principal = await guardFor().verify(await stub.sign({ scope: 'read' }));
    assert.equal(principal.source, 'jwt');
    assert.equal(principal.issuer, stub.issuer);
    assert.deepEqual(principal.scopes, ['read']);
  });

  describe('the testkit bad tokens', function () {
    it('expired → 401 ERR_BEARER_TOKEN_EXPIRED', async function () {
      const error = await rejectsWith(
        guardFor().verify(await stub.bad.expired()),
        'ERR_BEARER_TOKEN_EXPIRED',
        401,
      );
      assert.equal(error.error, 'invalid_token');
      assert.equal(
        error.headers['WWW-Authenticate'],
        'Bearer realm="api", error="invalid_token", error_description="The access token expired."',
      );
    });

    it('notYetValid → ERR_BEARER_TOKEN_NOT_YET_VALID', async function () {
      await rejectsWith(
        guardFor().verify(await stub.bad.notYetValid()),
        'ERR_BEARER_TOKEN_NOT_YET_VALID',
        401,
      );
    });

    it('wrongAudience → ERR_BEARER_TOKEN_AUDIENCE_INVALID', async function () {
      await rejectsWith(
        guardFor().verify(await stub.bad.wrongAudience()),
        'ERR_BEARER_TOKEN_AUDIENCE_INVALID',
        401,
      );
    });

    it('wrongIssuer → ERR_BEARER_TOKEN_ISSUER_INVALID', async function () {
      await rejectsWith(
        guardFor().verify(await stub.bad.wrongIssuer()),
        'ERR_BEARER_TOKEN_ISSUER_INVALID',
        401,
      );
    });

    it('algNone → ERR_BEARER_TOKEN_ALGORITHM_REJECTED', async function () {
      await rejectsWith(
        guardFor().verify(await stub.bad.algNone()),
        'ERR_BEARER_TOKEN_ALGORITHM_REJECTED',
        401,
      );
      // Also jose's own unsecured JWT, and "none" even when every other check would pass.
      const unsecured = new UnsecuredJWT({ iss: stub.issuer, aud: stub.audience, sub: 'x' })
        .setExpirationTime('5m')
        .encode();
      await rejectsWith(guardFor().verify(unsecured), 'ERR_BEARER_TOKEN_ALGORITHM_REJECTED', 401);
    });

    it('hs256WithPublicKey (algorithm confusion) → ERR_BEARER_TOKEN_ALGORITHM_REJECTED', async function () {
      const token = await stub.bad.hs256WithPublicKey();
      await rejectsWith(guardFor().verify(token), 'ERR_BEARER_TOKEN_ALGORITHM_REJECTED', 401);
      // The classic victim: a verifier configured with that very PEM.
      const rsaKid = stub.jwks().keys.find((key) => key['alg'] === 'RS256')?.['kid'] as string;
      const pemGuard = guardFor({ jwksUri: undefined, publicKey: await stub.publicKeyPem(rsaKid) });
      await rejectsWith(pemGuard.verify(token), 'ERR_BEARER_TOKEN_ALGORITHM_REJECTED', 401);
    });

    it('unknownKid → ERR_BEARER_TOKEN_KEY_UNKNOWN', async function () {
      await rejectsWith(guardFor().verify(await stub.bad.unknownKid()), 'ERR_BEARER_TOKEN_KEY_UNKNOWN', 401);
    });

    it('embeddedJwk / jku / x5u → 401 invalid_token, and the attacker JWKS is never fetched', async function () {
      const guard = guardFor();
      for (const make of [stub.bad.embeddedJwk, stub.bad.jku, stub.bad.x5u]) {
        const error = await rejectsWith(guard.verify(await make()), 'ERR_BEARER_TOKEN_KEY_UNKNOWN', 401);
        assert.equal(error.error, 'invalid_token');
      }
      // The same with a token that reuses a published kid but is signed by the attacker's key.
      const kid = stub.jwks().keys[0]?.['kid'] as string;
      for (const make of [stub.bad.embeddedJwk, stub.bad.jku]) {
        const token = await make();
        const [header, payload, signature] = token.split('.') as [string, string, string];
        const decoded = JSON.parse(Buffer.from(header, 'base64url').toString()) as Record<string, unknown>;
        const forged = `${Buffer.from(JSON.stringify({ ...decoded, kid })).toString('base64url')}.${payload}.${signature}`;
        await rejectsWith(guard.verify(forged), 'ERR_BEARER_TOKEN_SIGNATURE_INVALID', 401);
      }
      assert.equal(stub.counters.attackerJwks, 0);
      assert.equal(stub.attackerHits, 0);
    });

    it('tampered → ERR_BEARER_TOKEN_SIGNATURE_INVALID', async function () {
      await rejectsWith(
        guardFor().verify(await stub.bad.tampered()),
        'ERR_BEARER_TOKEN_SIGNATURE_INVALID',
        401,
      );
    });

    it('missingExp → ERR_BEARER_TOKEN_CLAIM_INVALID', async function () {
      await rejectsWith(
        guardFor().verify(await stub.bad.missingExp()),
        'ERR_BEARER_TOKEN_CLAIM_INVALID',
        401,
      );
    });
  });

  describe('malformed tokens', function () {
    it('refuses what is not a compact JWS with ERR_BEARER_TOKEN_MALFORMED', async function () {
      const guard = guardFor();
      for (const token of ['abc', 'a.b.c', 'a.b', '', `${Buffer.from('{}').toString('base64url')}.e30.`]) {
        await rejectsWith(guard.verify(token), 'ERR_BEARER_TOKEN_MALFORMED', 401);
      }
    });

    it('refuses an unknown critical header', async function () {
      const token = await stub.sign({}, { header: { crit: ['urn:example:must'], 'urn:example:must': true } });
      await rejectsWith(guardFor().verify(token), 'ERR_BEARER_TOKEN_MALFORMED', 401);
    });

    it('refuses a validly signed payload that is not a JSON claims set', async function () {
      const secret = randomBytes(32);
      const guard = guardFor({ jwksUri: undefined, secret });
      for (const payload of ['not json', '[1,2]', '"text"']) {
        const token = await new CompactSign(new TextEncoder().encode(payload))
          .setProtectedHeader({ alg: 'HS256' })
          .sign(secret);
        await rejectsWith(guard.verify(token), 'ERR_BEARER_TOKEN_MALFORMED', 401);
      }
    });

    it('a replaced payload is SIGNATURE_INVALID, or MALFORMED when it is no claims set to route by', async function () {
      const token = await stub.sign();
      const [header, , signature] = token.split('.') as [string, string, string];
      const claims = Buffer.from(JSON.stringify({ iss: stub.issuer, aud: stub.audience, exp: 2e9 }));
      await rejectsWith(
        guardFor().verify(`${header}.${claims.toString('base64url')}.${signature}`),
        'ERR_BEARER_TOKEN_SIGNATURE_INVALID',
        401,
      );
      // The unverified `iss` chooses the issuer (compact-jws.ts), so a payload without claims is
      // refused before any key is looked up.
      await rejectsWith(
        guardFor().verify(`${header}.${Buffer.from('not json').toString('base64url')}.${signature}`),
        'ERR_BEARER_TOKEN_MALFORMED',
        401,
      );
    });
  });

  describe('time claims', function () {
    it('honours the default clockTolerance of 5 s: exp 3 s ago passes, 10 s ago is expired', async function () {
      const guard = guardFor();
      await guard.verify(await stub.sign({}, { expiresIn: -3 }));
      await rejectsWith(
        guard.verify(await stub.sign({}, { expiresIn: -10 })),
        'ERR_BEARER_TOKEN_EXPIRED',
        401,
      );
    });

    it('honours clockTolerance for nbf', async function () {
      const guard = guardFor();
      await guard.verify(await stub.sign({}, { notBefore: 3 }));
      await rejectsWith(
        guard.verify(await stub.sign({}, { notBefore: 10 })),
        'ERR_BEARER_TOKEN_NOT_YET_VALID',
        401,
      );
    });

    it('clockTolerance 0 refuses a token that expired a moment ago', async function () {
      await rejectsWith(
        guardFor({ clockTolerance: 0 }).verify(await stub.sign({}, { expiresIn: -1 })),
        'ERR_BEARER_TOKEN_EXPIRED',
        401,
      );
    });

    it('a larger clockTolerance accepts an older exp', async function () {
      await guardFor({ clockTolerance: 60 }).verify(await stub.sign({}, { expiresIn: -30 }));
    });

    it('maxTokenAge refuses an old iat with ERR_BEARER_TOKEN_TOO_OLD and accepts a recent one', async function () {
      const guard = guardFor({ maxTokenAge: 60 });
      await guard.verify(await stub.sign({}, { issuedAt: nowSeconds() - 30 }));
      await rejectsWith(
        guard.verify(await stub.sign({}, { issuedAt: nowSeconds() - 100 })),
        'ERR_BEARER_TOKEN_TOO_OLD',
        401,
      );
      // maxTokenAge needs iat.
      await rejectsWith(
        guard.verify(await stub.sign({ iat: undefined })),
        'ERR_BEARER_TOKEN_CLAIM_INVALID',
        401,
      );
    });

    it('without maxTokenAge an old iat is fine', async function () {
      await guardFor().verify(await stub.sign({}, { issuedAt: nowSeconds() - 86_400 }));
    });

    it('refuses time claims of the wrong type with ERR_BEARER_TOKEN_CLAIM_INVALID', async function () {
      const guard = guardFor();
      const exp = nowSeconds() + 300;
      for (const claims of [{ exp: String(exp) }, { exp: null }, { nbf: 'yesterday' }, { iat: 'now' }]) {
        await rejectsWith(guard.verify(await stub.sign(claims)), 'ERR_BEARER_TOKEN_CLAIM_INVALID', 401);
      }
    });
  });

  // RFC 7519 §4.1.4: `exp` is a NumericDate. One past what a Date can hold (8.64e15 ms) bounds
  // nothing and has no `expiresAt`: refused as an invalid claim. A past one is expired, however far.
  describe('exp beyond the range of a Date', function () {
    const MAX_EXP = 8.64e12;

    it('refuses exp 1e308 and exp just past the largest Date with ERR_BEARER_TOKEN_CLAIM_INVALID', async function () {
      const guard = guardFor();
      for (const exp of [1e308, MAX_EXP + 1, Number.MAX_SAFE_INTEGER]) {
        const error = await rejectsWith(
          guard.verify(await stub.sign({ exp })),
          'ERR_BEARER_TOKEN_CLAIM_INVALID',
          401,
        );
        assert.equal(
          error.headers['WWW-Authenticate'],
          'Bearer realm="api", error="invalid_token", error_description="The access token has a missing or invalid claim."',
        );
      }
    });

    it('accepts the largest Date, with a valid expiresAt, from the cache too', async function () {
      const guard = guardFor();
      const token = await stub.sign({ exp: MAX_EXP });
      for (let i = 0; i < 2; i++) {
        const principal = await guard.verify(token);
        assert.equal(principal.expiresAt?.getTime(), MAX_EXP * 1000);
      }
    });

    it('refuses a non-finite exp (1e999 parses as Infinity) as invalid, and a negative one as expired', async function () {
      const secret = randomBytes(32);
      const guard = guardFor({ jwksUri: undefined, secret });
      // JSON.stringify cannot write Infinity, so the claims set is written by hand.
      const sign = (exp: string): Promise<string> =>
        new CompactSign(
          new TextEncoder().encode(
            `{"iss":${JSON.stringify(stub.issuer)},"aud":${JSON.stringify(stub.audience)},"exp":${exp}}`,
          ),
        )
          .setProtectedHeader({ alg: 'HS256' })
          .sign(secret);
      await guard.verify(await sign(String(nowSeconds() + 60)));
      await rejectsWith(guard.verify(await sign('1e999')), 'ERR_BEARER_TOKEN_CLAIM_INVALID', 401);
      for (const exp of ['-1e999', '-1', '-8640000000001', '0']) {
        await rejectsWith(guard.verify(await sign(exp)), 'ERR_BEARER_TOKEN_EXPIRED', 401);
      }
    });
  });

  describe('issuer and audience', function () {
    it('compares iss exactly', async function () {
      const guard = guardFor();
      for (const iss of [`${stub.issuer}/`, stub.issuer.toUpperCase(), `${stub.issuer} `, 42]) {
        await rejectsWith(guard.verify(await stub.sign({ iss })), 'ERR_BEARER_TOKEN_ISSUER_INVALID', 401);
      }
    });

    it('accepts an aud array that contains the configured audience', async function () {
      await guardFor().verify(await stub.sign({ aud: ['https://other.example', stub.audience] }));
      await rejectsWith(
        guardFor().verify(await stub.sign({ aud: ['https://other.example', 'https://third.example'] })),
        'ERR_BEARER_TOKEN_AUDIENCE_INVALID',
        401,
      );
    });

    it('accepts any of several configured audiences', async function () {
      const guard = guardFor({ audience: ['https://one.example', stub.audience] });
      await guard.verify(await stub.sign());
      await guard.verify(await stub.sign({ aud: 'https://one.example' }));
      await rejectsWith(
        guard.verify(await stub.sign({ aud: 'https://two.example' })),
        'ERR_BEARER_TOKEN_AUDIENCE_INVALID',
      );
    });

    it('refuses a token without aud', async function () {
      const error = await rejectsWith(
        guardFor().verify(await stub.sign({ aud: undefined })),
        'ERR_BEARER_TOKEN_CLAIM_INVALID',
      );
      assert.equal(error.status, 401);
    });
  });

  describe('typ', function () {
    it('accepts at+jwt, application/at+jwt, JWT, application/jwt (any case) and no typ by default', async function () {
      const guard = guardFor();
      const types = ['at+jwt', 'application/at+jwt', 'AT+JWT', 'JWT', 'jwt', null];
      for (const typ of [...types, 'application/jwt', 'Application/JWT', 'APPLICATION/AT+JWT']) {
        await guard.verify(await stub.sign({}, { typ }));
      }
    });

    it('refuses other types with ERR_BEARER_TOKEN_TYPE_INVALID', async function () {
      const guard = guardFor();
      for (const typ of [
        'JWT+other',
        'id_token+jwt',
        'text/jwt',
        'application/',
        'dpop+jwt',
        'logout+jwt',
        '',
      ]) {
        await rejectsWith(guard.verify(await stub.sign({}, { typ })), 'ERR_BEARER_TOKEN_TYPE_INVALID', 401);
      }
    });

    it('refuses a typ that is not a string with ERR_BEARER_TOKEN_TYPE_INVALID', async function () {
      const guard = guardFor();
      for (const typ of [1, true, ['at+jwt'], { t: 1 }]) {
        await rejectsWith(
          guard.verify(await stub.sign({}, { header: { typ } })),
          'ERR_BEARER_TOKEN_TYPE_INVALID',
          401,
        );
      }
      await rejectsWith(
        guardFor({ profile: 'rfc9068' }).verify(await stub.sign({}, { header: { typ: 1 } })),
        'ERR_BEARER_TOKEN_TYPE_INVALID',
        401,
      );
    });
  });

  describe("profile: 'rfc9068'", function () {
    it('accepts a complete at+jwt token', async function () {
      const guard = guardFor({ profile: 'rfc9068' });
      await guard.verify(await stub.sign());
      await guard.verify(await stub.sign({}, { typ: 'application/at+jwt' }));
    });

    it('requires typ at+jwt (any case, application/ optional)', async function () {
      const guard = guardFor({ profile: 'rfc9068' });
      for (const typ of ['AT+JWT', 'Application/At+Jwt']) await guard.verify(await stub.sign({}, { typ }));
      for (const typ of ['JWT', 'application/jwt', 'Application/JWT', null, 'at+jwt+x']) {
        await rejectsWith(guard.verify(await stub.sign({}, { typ })), 'ERR_BEARER_TOKEN_TYPE_INVALID', 401);
      }
    });

    for (const claim of RFC9068_REQUIRED_CLAIMS) {
      it(`requires ${claim} (ERR_BEARER_TOKEN_CLAIM_INVALID)`, async function () {
        const guard = guardFor({ profile: 'rfc9068' });
        await rejectsWith(
          guard.verify(await stub.sign({ [claim]: undefined })),
          'ERR_BEARER_TOKEN_CLAIM_INVALID',
          401,
        );
      });
    }

    it('requires sub, client_id and jti to be strings and iat a number (RFC 9068 §2.2)', async function () {
      const guard = guardFor({ profile: 'rfc9068' });
      const wrong = [
        { sub: 1 },
        { sub: null },
        { client_id: {} },
        { client_id: ['x'] },
        { jti: true },
        { iat: '1' },
      ];
      for (const claims of wrong) {
        await rejectsWith(guard.verify(await stub.sign(claims)), 'ERR_BEARER_TOKEN_CLAIM_INVALID', 401);
      }
    });

    it('lists the RFC 9068 §2.2 claims', function () {
      assert.deepEqual([...RFC9068_REQUIRED_CLAIMS], ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti']);
    });

    it('the default profile does not require sub, client_id, iat or jti', async function () {
      await guardFor().verify(
        await stub.sign({ sub: undefined, client_id: undefined, iat: undefined, jti: undefined }),
      );
    });
  });

  describe('claim types in the default profile', function () {
    it('refuses a sub, client_id or azp that is present but not a string, which the principal would drop', async function () {
      const guard = guardFor();
      for (const claims of [{ sub: 1 }, { sub: null }, { client_id: {} }, { client_id: undefined, azp: 7 }]) {
        await rejectsWith(guard.verify(await stub.sign(claims)), 'ERR_BEARER_TOKEN_CLAIM_INVALID', 401);
      }
      assert.equal((await guard.verify(await stub.sign({ jti: 5 }))).subject, 'user-123', 'jti is not read');
    });
  });

  describe('iat (RFC 7519 §4.1.6)', function () {
    it('refuses an iat more than clockTolerance in the future, with or without maxTokenAge', async function () {
      for (const extra of [{}, { maxTokenAge: 600 }]) {
        const guard = guardFor({ clockTolerance: 5, ...extra });
        await rejectsWith(
          guard.verify(await stub.sign({}, { issuedAt: nowSeconds() + 60 })),
          'ERR_BEARER_TOKEN_NOT_YET_VALID',
          401,
        );
        await guard.verify(await stub.sign({}, { issuedAt: nowSeconds() + 3 })); // within the tolerance
      }
    });

    it('refuses an iat that is not a number with CLAIM_INVALID, and a future one in the rfc9068 profile too', async function () {
      await rejectsWith(
        guardFor({ profile: 'rfc9068' }).verify(await stub.sign({}, { issuedAt: nowSeconds() + 60 })),
        'ERR_BEARER_TOKEN_NOT_YET_VALID',
        401,
      );
      await rejectsWith(
        guardFor().verify(await stub.sign({ iat: 'now' })),
        'ERR_BEARER_TOKEN_CLAIM_INVALID',
        401,
      );
    });
  });

  describe('several keys matching one token (RFC 7517 §4.5)', function () {
    const keyPair = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwkOf = (pair: ReturnType<typeof keyPair>, kid?: string) => ({
      ...pair.publicKey.export({ format: 'jwk' }),
      ...(kid === undefined ? {} : { kid }),
      alg: 'ES256',
      use: 'sig',
    });
    const signWith = (pair: ReturnType<typeof keyPair>, kid?: string) =>
      new SignJWT({ scope: 'read', sub: 'svc' })
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', ...(kid === undefined ? {} : { kid }) })
        .setIssuer(stub.issuer)
        .setAudience(stub.audience)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(pair.privateKey);

    it('a static jwks: tries each key of a duplicate kid, or each kid-less key for a kid-less token', async function () {
      const [a, b, c] = [keyPair(), keyPair(), keyPair()];
      const duplicate = guardFor({ jwksUri: undefined, jwks: { keys: [jwkOf(a, 'k'), jwkOf(b, 'k')] } });
      assert.equal((await duplicate.verify(await signWith(b, 'k'))).subject, 'svc');
      assert.equal((await duplicate.verify(await signWith(a, 'k'))).subject, 'svc');
      await rejectsWith(duplicate.verify(await signWith(c, 'k')), 'ERR_BEARER_TOKEN_SIGNATURE_INVALID', 401);
      const kidless = guardFor({ jwksUri: undefined, jwks: { keys: [jwkOf(a), jwkOf(b)] } });
      assert.equal((await kidless.verify(await signWith(b))).subject, 'svc');
      await rejectsWith(kidless.verify(await signWith(c)), 'ERR_BEARER_TOKEN_SIGNATURE_INVALID', 401);
    });

    it(`tries at most ${String(MAX_CANDIDATE_KEYS)} of them: a set of 50 keys under one kid costs no 50 checks`, async function () {
      const pairs = Array.from({ length: 50 }, keyPair);
      const guard = guardFor({ jwksUri: undefined, jwks: { keys: pairs.map((pair) => jwkOf(pair, 'dup')) } });
      const last = pairs[MAX_CANDIDATE_KEYS - 1];
      const beyond = pairs[MAX_CANDIDATE_KEYS];
      assert.ok(last !== undefined && beyond !== undefined);
      await guard.verify(await signWith(last, 'dup'));
      await rejectsWith(
        guard.verify(await signWith(beyond, 'dup')),
        'ERR_BEARER_TOKEN_SIGNATURE_INVALID',
        401,
      );
    });

    it('a claim failure with the right key is that failure, not SIGNATURE_INVALID', async function () {
      const [a, b] = [keyPair(), keyPair()];
      const guard = guardFor({ jwksUri: undefined, jwks: { keys: [jwkOf(a, 'k'), jwkOf(b, 'k')] } });
      const expired = await new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: 'k' })
        .setIssuer(stub.issuer)
        .setAudience(stub.audience)
        .setExpirationTime(nowSeconds() - 60)
        .sign(b.privateKey);
      await rejectsWith(guard.verify(expired), 'ERR_BEARER_TOKEN_EXPIRED', 401);
    });
  });

  describe('local key sources (no fetching)', function () {
    it('a local jwks verifies tokens of its keys and refuses unknown kids, without any request', async function () {
      const guard = guardFor({ jwksUri: undefined, jwks: stub.jwks() });
      await guard.verify(await stub.sign());
      await guard.verify(await stub.sign({}, { alg: 'RS256' }));
      await guard.verify(await stub.sign({}, { alg: 'EdDSA' }));
      await rejectsWith(guard.verify(await stub.bad.unknownKid()), 'ERR_BEARER_TOKEN_KEY_UNKNOWN', 401);
      await guard.ready();
      assert.deepEqual(discoveryCounters(stub), {
        jwks: 0,
        oauthMetadata: 0,
        openidConfiguration: 0,
        attackerJwks: 0,
      });
    });

    it('a publicKey PEM verifies its tokens and refuses other keys', async function () {
      const guard = guardFor({ jwksUri: undefined, publicKey: await stub.publicKeyPem() });
      await guard.verify(await stub.sign());
      await rejectsWith(
        guard.verify(await stub.sign({}, { alg: 'RS256' })),
        'ERR_BEARER_TOKEN_ALGORITHM_REJECTED',
        401,
      );
      await rejectsWith(guard.verify(await stub.bad.unknownKid()), 'ERR_BEARER_TOKEN_SIGNATURE_INVALID', 401);
      assert.equal(stub.counters.jwks, 0);
    });

    it('a publicKey JWK and a public KeyObject work too', async function () {
      const jwk = stub.publicJwk();
      await guardFor({ jwksUri: undefined, publicKey: jwk }).verify(await stub.sign());
      const keyObject = createPublicKey({ key: jwk as never, format: 'jwk' });
      await guardFor({ jwksUri: undefined, publicKey: keyObject }).verify(await stub.sign());
    });

    it('a secret verifies HS256 tokens signed with it', async function () {
      const secret = randomBytes(32);
      const guard = guardFor({ jwksUri: undefined, secret });
      const sign = (key: Uint8Array, alg = 'HS256'): Promise<string> =>
        new SignJWT({ scope: 'read' })
          .setProtectedHeader({ alg, typ: 'at+jwt' })
          .setIssuer(stub.issuer)
          .setAudience(stub.audience)
          .setSubject('svc')
          .setIssuedAt()
          .setExpirationTime('5m')
          .sign(key);
      const principal = await guard.verify(await sign(secret));
      assert.equal(principal.subject, 'svc');
      assert.deepEqual(principal.scopes, ['read']);
      await rejectsWith(guard.verify(await sign(randomBytes(32))), 'ERR_BEARER_TOKEN_SIGNATURE_INVALID', 401);
      await rejectsWith(
        guard.verify(await sign(secret, 'HS512')),
        'ERR_BEARER_TOKEN_ALGORITHM_REJECTED',
        401,
      );
      await rejectsWith(guard.verify(await stub.sign()), 'ERR_BEARER_TOKEN_ALGORITHM_REJECTED', 401);
      await rejectsWith(guard.verify(await stub.bad.algNone()), 'ERR_BEARER_TOKEN_ALGORITHM_REJECTED', 401);
      // A string secret is its UTF-8 bytes.
      const text = 'a-shared-secret-of-at-least-32-bytes!';
      await guardFor({ jwksUri: undefined, secret: text }).verify(await sign(new TextEncoder().encode(text)));
    });

    it('the algorithms allow-list is enforced', async function () {
      const guard = guardFor({ algorithms: ['RS256'] });
      await guard.verify(await stub.sign({}, { alg: 'RS256' }));
      await rejectsWith(
        guard.verify(await stub.sign({}, { alg: 'ES256' })),
        'ERR_BEARER_TOKEN_ALGORITHM_REJECTED',
        401,
      );
    });
  });
});
