import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';

import { createGuard, DEFAULT_ALGORITHMS, resolveOptions } from '@bearer-guard/core';
import type { GuardOptions } from '@bearer-guard/core';

import { throwsConfig } from './helpers.js';

const issuer = 'https://as.example.com';
const audience = 'https://api.example.com';
const SECRET = 'x'.repeat(32);

/** Base options plus `extra`; typed loosely on purpose, like a JavaScript caller's object. */
function opts(extra: Record<string, unknown> = {}): GuardOptions {
  return { issuer, audience, ...extra };
}

describe('options: resolveOptions / createGuard validation', function () {
  describe('defaults', function () {
    it('fills in the documented defaults', function () {
      const resolved = resolveOptions({ issuer, audience });
      assert.deepEqual(resolved.issuers, [
        {
          issuer,
          audiences: [audience],
          algorithms: [...DEFAULT_ALGORITHMS],
          keySource: { kind: 'discovery' },
          introspection: undefined,
        },
      ]);
      assert.deepEqual(DEFAULT_ALGORITHMS, ['RS256', 'PS256', 'ES256', 'EdDSA']);
      assert.equal(resolved.clockTolerance, 5);
      assert.equal(resolved.maxTokenAge, undefined);
      assert.equal(resolved.profile, 'default');
      assert.deepEqual(resolved.scopeClaims, ['scope', 'scp']);
      assert.deepEqual(resolved.tokenLocations, { query: false, body: false });
      assert.equal(resolved.credentialsRequired, true);
      assert.equal(resolved.realm, 'api');
      assert.equal(resolved.resourceMetadata, undefined);
      assert.equal(resolved.tokenCacheMax, 10_000);
      assert.equal(resolved.tokenCacheAdmission, 'second-use');
      assert.deepEqual(resolved.jwksCache, {
        cacheMaxAge: 600_000,
        cooldown: 30_000,
        staleMaxAge: 3_600_000,
      });
      assert.equal(resolved.timeout, 5000);
      assert.equal(resolved.maxResponseBytes, 512 * 1024);
      assert.equal(resolved.allowInsecureHttp, false);
    });

    it('defaults the algorithms to HS256 with a secret', function () {
      const resolved = resolveOptions(opts({ secret: SECRET }));
      assert.deepEqual(resolved.issuers[0]?.algorithms, ['HS256']);
    });

    it('accepts an audience array and per-issuer audiences', function () {
      const resolved = resolveOptions({
        audience: ['a', 'b'],
        issuers: [{ issuer }, { issuer: 'https://other.example', audience: 'c' }],
      });
      assert.deepEqual(
        resolved.issuers.map((entry) => entry.audiences),
        [['a', 'b'], ['c']],
      );
    });

    it('turns the token cache off with tokenCache: false', function () {
      assert.equal(resolveOptions(opts({ tokenCache: false })).tokenCacheMax, 0);
      assert.equal(resolveOptions(opts({ tokenCache: { max: 5 } })).tokenCacheMax, 5);
      assert.ok(createGuard(opts({ tokenCache: false })));
    });

    it("takes tokenCache.admission 'first-use' or 'second-use' and nothing else", function () {
      const admission = (tokenCache: unknown) => resolveOptions(opts({ tokenCache })).tokenCacheAdmission;
      assert.equal(admission({ admission: 'first-use' }), 'first-use');
      assert.equal(admission({ admission: 'second-use', max: 5 }), 'second-use');
      for (const value of ['firstUse', 'always', 1, true, null]) {
        throwsConfig(
          () => createGuard(opts({ tokenCache: { admission: value } })),
          'ERR_BEARER_CONFIG_INVALID_OPTION',
          '`tokenCache.admission`',
        );
      }
    });

    it('refuses something that is not an options object', function () {
      throwsConfig(() => resolveOptions(undefined), 'ERR_BEARER_CONFIG_INVALID_OPTION', '`options`');
      throwsConfig(
        () => resolveOptions('https://as.example.com'),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`options`',
      );
      throwsConfig(() => resolveOptions([]), 'ERR_BEARER_CONFIG_INVALID_OPTION', '`options`');
    });
  });

  describe('unknown options', function () {
    it('names the unknown key and suggests the closest option', function () {
      const error = throwsConfig(
        () => createGuard(opts({ audience: undefined, audiance: audience })),
        'ERR_BEARER_CONFIG_UNKNOWN_OPTION',
      );
      assert.match(error.message, /`audiance` is not an option; did you mean `audience`\?/);
      throwsConfig(
        () => createGuard(opts({ jwksURI: 'https://as.example.com/jwks' })),
        'ERR_BEARER_CONFIG_UNKNOWN_OPTION',
        '`jwksURI` is not an option; did you mean `jwksUri`?',
      );
      throwsConfig(
        () => createGuard(opts({ clocktolerance: 5 })),
        'ERR_BEARER_CONFIG_UNKNOWN_OPTION',
        'did you mean `clockTolerance`?',
      );
    });

    it('names the path of nested unknown keys', function () {
      throwsConfig(
        () => createGuard(opts({ tokenLocations: { querry: true } })),
        'ERR_BEARER_CONFIG_UNKNOWN_OPTION',
        '`tokenLocations.querry` is not an option; did you mean `query`?',
      );
      throwsConfig(
        () => createGuard(opts({ jwksCache: { coolDown: 1 } })),
        'ERR_BEARER_CONFIG_UNKNOWN_OPTION',
        '`jwksCache.coolDown`',
        'did you mean `cooldown`?',
      );
      throwsConfig(
        () => createGuard({ audience, issuers: [{ issuer, audiance: 'x' } as never] }),
        'ERR_BEARER_CONFIG_UNKNOWN_OPTION',
        '`issuers[0].audiance`',
        'did you mean `audience`?',
      );
    });

    it('gives no suggestion for a name that is nothing like an option', function () {
      const error = throwsConfig(
        () => createGuard(opts({ zzzzzzzz: 1 })),
        'ERR_BEARER_CONFIG_UNKNOWN_OPTION',
        '`zzzzzzzz`',
      );
      assert.doesNotMatch(error.message, /did you mean/);
    });

    it('treats a key whose value is undefined as absent', function () {
      assert.ok(createGuard(opts({ audiance: undefined })));
    });
  });

  describe('required options', function () {
    it('requires issuer', function () {
      // @ts-expect-error -- the type requires it too; this is the check JavaScript callers get
      throwsConfig(() => createGuard({ audience }), 'ERR_BEARER_CONFIG_MISSING_OPTION', '`issuer`');
      throwsConfig(
        () => createGuard({ audience, issuers: [{ jwksUri: 'https://as.example.com/jwks' } as never] }),
        'ERR_BEARER_CONFIG_MISSING_OPTION',
        '`issuers[0].issuer`',
      );
    });

    it('requires audience', function () {
      // @ts-expect-error -- the type requires it too; this is the check JavaScript callers get
      throwsConfig(() => createGuard({ issuer }), 'ERR_BEARER_CONFIG_MISSING_OPTION', '`audience`');
      throwsConfig(
        () => createGuard({ issuers: [{ issuer }] }),
        'ERR_BEARER_CONFIG_MISSING_OPTION',
        '`audience`',
      );
    });

    it('refuses empty issuer and audience values', function () {
      throwsConfig(() => createGuard(opts({ issuer: '' })), 'ERR_BEARER_CONFIG_INVALID_OPTION', '`issuer`');
      throwsConfig(
        () => createGuard(opts({ audience: '' })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`audience`',
      );
      throwsConfig(
        () => createGuard(opts({ audience: [] })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`audience`',
      );
      throwsConfig(
        () => createGuard(opts({ audience: ['a', 7] })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`audience[1]`',
      );
    });
  });

  describe('URLs', function () {
    it('refuses a plain http issuer beyond loopback, naming the option and the way out', function () {
      throwsConfig(
        () => createGuard(opts({ issuer: 'http://as.example.com' })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`issuer`',
        'allowInsecureHttp',
      );
      throwsConfig(
        () => createGuard(opts({ jwksUri: 'http://as.example.com/jwks' })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`jwksUri`',
      );
      throwsConfig(
        () =>
          createGuard(
            opts({ resourceMetadata: 'http://api.example.com/.well-known/oauth-protected-resource' }),
          ),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`resourceMetadata`',
      );
    });

    it('accepts plain http beyond loopback with allowInsecureHttp', function () {
      const resolved = resolveOptions(opts({ issuer: 'http://as.example.com', allowInsecureHttp: true }));
      assert.equal(resolved.issuers[0]?.issuer, 'http://as.example.com');
    });

    it('accepts plain http on loopback', function () {
      for (const url of [
        'http://127.0.0.1:8080',
        'http://127.1.2.3',
        'http://localhost:3000/tenant',
        'http://[::1]:9000',
      ]) {
        assert.equal(resolveOptions(opts({ issuer: url })).issuers[0]?.issuer, url);
      }
    });

    it('does not take a host name that merely starts with "127." for loopback', function () {
      for (const url of [
        'http://127.0.0.1.nip.io',
        'http://127.evil.example',
        'http://localhost.evil.example',
      ]) {
        throwsConfig(
          () => createGuard(opts({ issuer: url })),
          'ERR_BEARER_CONFIG_INVALID_OPTION',
          '`issuer`',
          'allowInsecureHttp',
        );
      }
    });

    it('refuses non-URLs and other schemes', function () {
      throwsConfig(
        () => createGuard(opts({ issuer: 'as.example.com' })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`issuer`',
      );
      throwsConfig(
        () => createGuard(opts({ issuer: 'ftp://as.example.com' })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`issuer`',
      );
      throwsConfig(() => createGuard(opts({ issuer: 42 })), 'ERR_BEARER_CONFIG_INVALID_OPTION', '`issuer`');
    });

    it('refuses a URL with a user name or password, without repeating the password', function () {
      // fetch() refuses such a URL on every call; say so at start-up instead.
      for (const [option, url] of [
        ['issuer', 'https://admin:s3cret@as.example.com'],
        ['jwksUri', 'https://admin:s3cret@as.example.com/jwks'],
        ['jwksUri', 'http://admin@127.0.0.1:8080/jwks'],
        ['resourceMetadata', 'https://:s3cret@api.example.com/.well-known/oauth-protected-resource'],
      ] as const) {
        const error = throwsConfig(
          () => createGuard(opts({ [option]: url })),
          'ERR_BEARER_CONFIG_INVALID_OPTION',
          `\`${option}\``,
          'user name or password',
        );
        assert.ok(!error.message.includes('s3cret'), error.message);
      }
    });

    it('refuses an issuer with a query or a fragment (RFC 8414 §2)', function () {
      throwsConfig(
        () => createGuard(opts({ issuer: 'https://as.example.com/?tenant=a' })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`issuer`',
        'query',
      );
      throwsConfig(
        () => createGuard(opts({ issuer: 'https://as.example.com/#x' })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`issuer`',
        'fragment',
      );
      // A jwksUri may have a query, not a fragment.
      assert.ok(createGuard(opts({ jwksUri: 'https://as.example.com/jwks?v=2' })));
      throwsConfig(
        () => createGuard(opts({ jwksUri: 'https://as.example.com/jwks#k' })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`jwksUri`',
      );
    });
  });

  describe('key sources and algorithms', function () {
    it('refuses two key sources for one issuer', function () {
      throwsConfig(
        () => createGuard(opts({ jwksUri: 'https://as.example.com/jwks', jwks: { keys: [] } })),
        'ERR_BEARER_CONFIG_CONFLICTING_OPTIONS',
        'jwksUri',
        'jwks',
      );
      throwsConfig(
        () => createGuard(opts({ secret: SECRET, publicKey: '-----BEGIN PUBLIC KEY-----' })),
        'ERR_BEARER_CONFIG_CONFLICTING_OPTIONS',
        'publicKey',
        'secret',
      );
    });

    it('with introspection, keys by discovery are the default; localJwts: false refuses a key source and introspectJwts', function () {
      const introspection = { clientId: 'api', clientSecret: 'secret' };
      const [entry] = resolveOptions(opts({ introspection })).issuers;
      assert.deepEqual(entry?.keySource, { kind: 'discovery' });
      assert.equal(entry.introspection?.localJwts, true);
      const [optOut] = resolveOptions(
        opts({ introspection: { ...introspection, localJwts: false } }),
      ).issuers;
      assert.equal(optOut?.keySource, undefined);
      throwsConfig(
        () =>
          createGuard(
            opts({
              jwksUri: 'https://as.example.com/jwks',
              introspection: { ...introspection, localJwts: false },
            }),
          ),
        'ERR_BEARER_CONFIG_CONFLICTING_OPTIONS',
        '`introspection.localJwts`',
        '`jwksUri`',
      );
      throwsConfig(
        () =>
          createGuard(opts({ introspection: { ...introspection, localJwts: false, introspectJwts: true } })),
        'ERR_BEARER_CONFIG_CONFLICTING_OPTIONS',
        '`introspection.introspectJwts`',
        '`introspection.localJwts`',
      );
    });

    it('refuses HS algorithms without a secret (RFC 8725 §2.1), naming algorithms', function () {
      throwsConfig(
        () => createGuard(opts({ algorithms: ['RS256', 'HS256'] })),
        'ERR_BEARER_CONFIG_CONFLICTING_OPTIONS',
        '`algorithms`',
        'HS256',
      );
      throwsConfig(
        () => createGuard(opts({ jwksUri: 'https://as.example.com/jwks', algorithms: 'HS512' })),
        'ERR_BEARER_CONFIG_CONFLICTING_OPTIONS',
        '`algorithms`',
      );
    });

    it('refuses public-key algorithms beside a secret', function () {
      throwsConfig(
        () => createGuard(opts({ secret: SECRET, algorithms: ['HS256', 'RS256'] })),
        'ERR_BEARER_CONFIG_CONFLICTING_OPTIONS',
        '`algorithms`',
        'RS256',
      );
    });

    it('never accepts "none" or unknown algorithms', function () {
      for (const alg of ['none', 'None', 'RS1', 'es256']) {
        throwsConfig(
          () => createGuard(opts({ algorithms: [alg] })),
          'ERR_BEARER_CONFIG_INVALID_OPTION',
          '`algorithms`',
        );
      }
      throwsConfig(
        () => createGuard(opts({ algorithms: [] })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`algorithms`',
      );
    });

    it('refuses a secret shorter than 32 bytes (RFC 7518 §3.2) without echoing it', function () {
      const short = 'short-secret-of-31-bytes-123456';
      assert.equal(short.length, 31);
      const error = throwsConfig(
        () => createGuard(opts({ secret: short })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`secret`',
        '32 bytes',
      );
      assert.equal(error.message.includes(short), false, 'the secret must not appear in the message');
      throwsConfig(
        () => createGuard(opts({ secret: new Uint8Array(31) })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`secret`',
      );
      throwsConfig(
        () => createGuard(opts({ secret: 12345 })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`secret`',
      );
      assert.ok(createGuard(opts({ secret: new Uint8Array(32) })));
      // Bytes, not characters: 16 two-byte characters are 32 bytes.
      assert.ok(createGuard(opts({ secret: 'é'.repeat(16) })));
    });

    it('refuses a malformed jwks', function () {
      throwsConfig(() => createGuard(opts({ jwks: [] })), 'ERR_BEARER_CONFIG_INVALID_OPTION', '`jwks`');
      throwsConfig(
        () => createGuard(opts({ jwks: { keys: 'x' } })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`jwks`',
      );
      throwsConfig(
        () => createGuard(opts({ jwks: { keys: [42] } })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        'jwks',
      );
    });

    it('refuses an unreadable publicKey at construction, naming the option', function () {
      throwsConfig(
        () => createGuard(opts({ publicKey: 'not a pem' })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`publicKey`',
      );
      throwsConfig(
        () => createGuard(opts({ publicKey: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----' })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        'publicKey',
      );
      throwsConfig(
        () => createGuard(opts({ publicKey: { kty: 'RSA', n: 'x' } })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        'publicKey',
      );
      throwsConfig(
        () => createGuard(opts({ publicKey: 42 })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`publicKey`',
      );
    });

    it('accepts a valid publicKey as PEM, JWK or KeyObject', function () {
      const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      assert.ok(createGuard(opts({ publicKey })));
      assert.ok(createGuard(opts({ publicKey: publicKey.export({ type: 'spki', format: 'pem' }) })));
      assert.ok(createGuard(opts({ publicKey: publicKey.export({ format: 'jwk' }) })));
    });
  });

  describe('a local key that fits no allowed algorithm is refused at construction', function () {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey;
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;

    it('an RSA publicKey with only ES256, an EC P-384 key with only ES256', function () {
      throwsConfig(
        () => createGuard(opts({ publicKey: rsa, algorithms: ['ES256'] })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`publicKey`',
        'RSA key',
        'ES256',
      );
      throwsConfig(
        () => createGuard(opts({ publicKey: p384.export({ format: 'jwk' }), algorithms: ['ES256'] })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`publicKey`',
        'EC P-384 key',
        'ES256',
        'ES384',
      );
      assert.ok(createGuard(opts({ publicKey: p384, algorithms: ['ES256', 'ES384'] })));
      assert.ok(createGuard(opts({ publicKey: rsa })), 'the default algorithms include RS256');
    });

    it('a secret too short for every allowed HS algorithm (RFC 7518 §3.2), without echoing it', function () {
      const error = throwsConfig(
        () => createGuard(opts({ secret: SECRET, algorithms: ['HS512'] })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`secret`',
        'HS512',
      );
      assert.equal(error.message.includes(SECRET), false);
      assert.ok(createGuard(opts({ secret: 'y'.repeat(64), algorithms: ['HS512'] })));
      assert.ok(createGuard(opts({ secret: SECRET, algorithms: ['HS256', 'HS512'] })));
    });

    it('a static jwks none of whose keys fits, counting use, key_ops and alg', function () {
      const ec = { ...p256.export({ format: 'jwk' }), kid: 'a' };
      for (const keys of [
        [{ ...rsa.export({ format: 'jwk' }), kid: 'r' }],
        [{ ...ec, alg: 'ES384' }],
        [{ ...ec, use: 'enc' }],
        [{ ...ec, key_ops: ['encrypt'] }],
        [],
      ]) {
        throwsConfig(
          () => createGuard(opts({ jwks: { keys }, algorithms: ['ES256'] })),
          'ERR_BEARER_CONFIG_INVALID_OPTION',
          '`jwks`',
          'ES256',
        );
      }
      assert.ok(
        createGuard(
          opts({ jwks: { keys: [{ ...rsa.export({ format: 'jwk' }) }, ec] }, algorithms: ['ES256'] }),
        ),
      );
    });

    it('an RSA key under 2048 bits, as publicKey or in a jwks (RFC 7518 §3.3)', function () {
      const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
      throwsConfig(
        () => createGuard(opts({ publicKey: small })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`publicKey`',
        '1024 bits',
        '2048',
      );
      throwsConfig(
        () =>
          createGuard(
            opts({
              jwks: {
                keys: [
                  { ...p256.export({ format: 'jwk' }) },
                  { ...small.export({ format: 'jwk' }), kid: 'old' },
                ],
              },
            }),
          ),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`jwks`',
        '1024 bits',
        '"old"',
      );
    });
  });

  describe('a static jwks key that cannot be used is refused at construction', function () {
    it('a malformed or private JWK beside good keys (it would fail every token that selects it)', function () {
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const good = { ...publicKey.export({ format: 'jwk' }), kid: 'good' };
      const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' });
      for (const bad of [
        { ...good, x: 'AAAA' },
        { ...p384, crv: 'P-256' },
        { ...good, y: undefined },
        { ...privateKey.export({ format: 'jwk' }) },
      ]) {
        throwsConfig(
          () => createGuard(opts({ jwks: { keys: [good, { ...bad, kid: 'bad' }] }, algorithms: ['ES256'] })),
          'ERR_BEARER_CONFIG_INVALID_OPTION',
          '`jwks`',
          '"bad"',
          'not a usable public JWK',
        );
      }
      // A key no allowed algorithm selects is never imported, so it does not matter.
      assert.ok(createGuard(opts({ jwks: { keys: [good, { ...good, x: 'AAAA', use: 'enc' }] } })));
    });
  });

  describe('several issuers', function () {
    it('refuses top-level issuer fields beside issuers', function () {
      throwsConfig(
        // @ts-expect-error -- a type error too: top-level issuer fields and `issuers` exclude each other
        () => createGuard({ audience, jwksUri: 'https://as.example.com/jwks', issuers: [{ issuer }] }),
        'ERR_BEARER_CONFIG_CONFLICTING_OPTIONS',
        '`jwksUri`',
        '`issuers`',
      );
      throwsConfig(
        // @ts-expect-error -- a type error too: top-level issuer fields and `issuers` exclude each other
        () => createGuard({ audience, issuer, issuers: [{ issuer }] }),
        'ERR_BEARER_CONFIG_CONFLICTING_OPTIONS',
        '`issuer`',
      );
    });

    it('refuses an issuer listed twice', function () {
      throwsConfig(
        () =>
          createGuard({
            audience,
            issuers: [{ issuer }, { issuer, jwksUri: 'https://as.example.com/jwks' }],
          }),
        'ERR_BEARER_CONFIG_CONFLICTING_OPTIONS',
        issuer,
        'twice',
      );
    });

    it('refuses an empty or non-array issuers', function () {
      throwsConfig(
        () => createGuard({ audience, issuers: [] }),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`issuers`',
      );
      throwsConfig(
        () => createGuard({ audience, issuers: { issuer } as never }),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`issuers`',
      );
    });

    it('validates each entry under its own path', function () {
      throwsConfig(
        () => createGuard({ audience, issuers: [{ issuer }, { issuer: 'http://as.example.org' }] }),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`issuers[1].issuer`',
      );
      throwsConfig(
        () => createGuard({ audience, issuers: [{ issuer, secret: 'short' }] }),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`issuers[0].secret`',
      );
      throwsConfig(
        () => createGuard({ audience, issuers: [{ issuer, algorithms: ['HS256'] }] }),
        'ERR_BEARER_CONFIG_CONFLICTING_OPTIONS',
        '`issuers[0].algorithms`',
      );
    });
  });

  describe('numbers and other values', function () {
    const bad: [string, unknown][] = [
      ['NaN', Number.NaN],
      ['negative', -1],
      ['non-integer', 1.5],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['a string', '5'],
    ];
    for (const [label, value] of bad) {
      it(`refuses ${label} for numeric options, naming the option path`, function () {
        throwsConfig(
          () => createGuard(opts({ clockTolerance: value })),
          'ERR_BEARER_CONFIG_INVALID_OPTION',
          '`clockTolerance`',
        );
        throwsConfig(
          () => createGuard(opts({ maxTokenAge: value })),
          'ERR_BEARER_CONFIG_INVALID_OPTION',
          '`maxTokenAge`',
        );
        throwsConfig(
          () => createGuard(opts({ timeout: value })),
          'ERR_BEARER_CONFIG_INVALID_OPTION',
          '`timeout`',
        );
        throwsConfig(
          () => createGuard(opts({ maxResponseBytes: value })),
          'ERR_BEARER_CONFIG_INVALID_OPTION',
          '`maxResponseBytes`',
        );
        throwsConfig(
          () => createGuard(opts({ jwksCache: { cooldown: value } })),
          'ERR_BEARER_CONFIG_INVALID_OPTION',
          '`jwksCache.cooldown`',
        );
        throwsConfig(
          () => createGuard(opts({ tokenCache: { max: value } })),
          'ERR_BEARER_CONFIG_INVALID_OPTION',
          '`tokenCache.max`',
        );
      });
    }

    it('enforces the documented ranges', function () {
      throwsConfig(
        () => createGuard(opts({ clockTolerance: 301 })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`clockTolerance`',
      );
      throwsConfig(
        () => createGuard(opts({ maxTokenAge: 0 })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`maxTokenAge`',
      );
      throwsConfig(() => createGuard(opts({ timeout: 0 })), 'ERR_BEARER_CONFIG_INVALID_OPTION', '`timeout`');
      throwsConfig(
        () => createGuard(opts({ jwksCache: { cacheMaxAge: 999 } })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`jwksCache.cacheMaxAge`',
      );
      throwsConfig(
        () => createGuard(opts({ maxResponseBytes: 1023 })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`maxResponseBytes`',
      );
      throwsConfig(
        () => createGuard(opts({ tokenCache: { max: 0 } })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`tokenCache.max`',
      );
      const resolved = resolveOptions(
        opts({
          clockTolerance: 0,
          timeout: 1,
          jwksCache: { cacheMaxAge: 1000, cooldown: 0, staleMaxAge: 0 },
          maxResponseBytes: 1024,
        }),
      );
      assert.equal(resolved.clockTolerance, 0);
      assert.deepEqual(resolved.jwksCache, { cacheMaxAge: 1000, cooldown: 0, staleMaxAge: 0 });
    });

    it('refuses wrong types for the other options', function () {
      throwsConfig(
        () => createGuard(opts({ profile: 'strict' })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`profile`',
      );
      throwsConfig(() => createGuard(opts({ realm: 5 })), 'ERR_BEARER_CONFIG_INVALID_OPTION', '`realm`');
      // A realm the challenge cannot carry as given (it would be sent with characters dropped or as '?').
      for (const realm of ['orders\napi', 'orders\u0000', '日本', 'café']) {
        throwsConfig(() => createGuard(opts({ realm })), 'ERR_BEARER_CONFIG_INVALID_OPTION', '`realm`');
      }
      assert.equal(createGuard(opts({ realm: 'orders "v2" \\ \t' })).options.realm, 'orders "v2" \\ \t');
      throwsConfig(
        () => createGuard(opts({ credentialsRequired: 'no' })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`credentialsRequired`',
      );
      throwsConfig(
        () => createGuard(opts({ allowInsecureHttp: 1 })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`allowInsecureHttp`',
      );
      throwsConfig(
        () => createGuard(opts({ tokenLocations: { query: 'yes' } })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`tokenLocations.query`',
      );
      throwsConfig(
        () => createGuard(opts({ tokenCache: true })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`tokenCache`',
      );
      throwsConfig(
        () => createGuard(opts({ scopeClaims: [] })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`scopeClaims`',
      );
      throwsConfig(
        () => createGuard(opts({ jwksCache: 5 })),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        '`jwksCache`',
      );
    });
  });
});
