import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import { ConfigurationError, createGuard } from '@bearer-guard/core';
import type { BearerGuard, GuardEventMap, SingleIssuerOptions } from '@bearer-guard/core';
import { startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub, EndpointBehaviour } from '@bearer-guard/testkit';

import {
  assertBearerError,
  assertConfigError,
  rejection,
  rejectsWith,
  sleep,
  startTinyServer,
} from './helpers.js';
import type { TinyServer } from './helpers.js';

type Loaded = GuardEventMap['keys.loaded'];
type RefreshFailed = GuardEventMap['keys.refresh_failed'];

describe('jwks: RemoteKeySet resilience, through the guard', function () {
  let stub: AuthorizationServerStub;
  let loaded: Loaded[];
  let failed: RefreshFailed[];

  /** A guard on the stub's JWKS URL with fast machinery, recording key events. */
  function guardFor(extra: Partial<SingleIssuerOptions> = {}): BearerGuard {
    const guard = createGuard({
      issuer: stub.issuer,
      audience: stub.audience,
      jwksUri: stub.jwksUri,
      timeout: 2000, // tests of `hang` set 300 ms
      jwksCache: { cooldown: 200, cacheMaxAge: 1000 },
      ...extra,
    });
    guard.on('keys.loaded', (event) => loaded.push(event));
    guard.on('keys.refresh_failed', (event) => failed.push(event));
    return guard;
  }

  /** A validly signed token whose kid is in no key set. */
  const randomKidToken = (): Promise<string> => stub.sign({}, { header: { kid: randomUUID() } });

  beforeEach(async function () {
    stub = await startAuthorizationServer({ algorithms: ['ES256'] });
    loaded = [];
    failed = [];
  });

  afterEach(async function () {
    await stub.close();
  });

  describe('loading and caching', function () {
    it('fetches once for 50 concurrent first requests on a cold guard', async function () {
      const guard = guardFor();
      const tokens = await Promise.all(
        Array.from({ length: 50 }, (_, i) => stub.sign({ sub: `user-${String(i)}` })),
      );
      const principals = await Promise.all(tokens.map((token) => guard.verify(token)));
      assert.deepEqual(
        principals.map((principal) => principal.subject),
        tokens.map((_, i) => `user-${String(i)}`),
      );
      assert.equal(stub.counters.jwks, 1);
      assert.deepEqual(loaded, [{ issuer: stub.issuer, uri: stub.jwksUri, trigger: 'initial', keyCount: 1 }]);
    });

    it('serves known keys from the cache and refetches after cacheMaxAge', async function () {
      const guard = guardFor();
      await guard.verify(await stub.sign());
      await guard.verify(await stub.sign());
      assert.equal(stub.counters.jwks, 1);
      await sleep(1100);
      await guard.verify(await stub.sign());
      assert.equal(stub.counters.jwks, 2);
      assert.deepEqual(
        loaded.map((event) => event.trigger),
        ['initial', 'expired'],
      );
    });

    it('ready() loads the keys once, so the first request needs no fetch', async function () {
      const guard = guardFor();
      await guard.ready();
      assert.equal(stub.counters.jwks, 1);
      await guard.verify(await stub.sign());
      assert.equal(stub.counters.jwks, 1);
      assert.equal(loaded[0]?.trigger, 'ready');
    });

    it('accepts the application/jwk-set+json media type', async function () {
      const server = await startTinyServer((_req, res) => {
        res.setHeader('content-type', 'application/jwk-set+json; charset=utf-8');
        res.end(JSON.stringify(stub.jwks()));
      });
      try {
        await guardFor({ jwksUri: `${server.origin}/jwks` }).verify(await stub.sign());
      } finally {
        await server.close();
      }
    });
  });

  describe('unknown kid', function () {
    it('refetches at once on the first miss after a load, then at most once per cooldown', async function () {
      const guard = guardFor({ jwksCache: { cooldown: 500, cacheMaxAge: 600_000 } });
      // Minted up front, so the steps below stay well inside the cooldown even on a loaded machine.
      const unknown = [
        ...(await Promise.all(Array.from({ length: 4 }, randomKidToken))),
        await stub.bad.unknownKid(),
      ];
      const miss = (index: number) =>
        rejectsWith(guard.verify(unknown[index]!), 'ERR_BEARER_TOKEN_KEY_UNKNOWN', 401);
      await guard.ready();
      assert.equal(stub.counters.jwks, 1);

      await miss(0);
      assert.equal(stub.counters.jwks, 2, 'the first miss refetches at once');
      await miss(1);
      await miss(4);
      assert.equal(stub.counters.jwks, 2, 'no refetch within the cooldown');

      await sleep(550);
      await miss(2);
      assert.equal(stub.counters.jwks, 3, 'one refetch once the cooldown has passed');
      await miss(3);
      assert.equal(stub.counters.jwks, 3);

      // Known keys are unaffected.
      await guard.verify(await stub.sign());
      assert.equal(stub.counters.jwks, 3);
      assert.deepEqual(
        loaded.map((event) => event.trigger),
        ['ready', 'unknown-kid', 'unknown-kid'],
      );
    });

    it('a flood of 200 random kids, concurrent then sequential, costs at most 2 fetches', async function () {
      const guard = guardFor({ jwksCache: { cooldown: 30_000, cacheMaxAge: 600_000 } });
      const unpublished = await Promise.all([
        stub.addKey('ES256', { publish: false }),
        stub.addKey('ES256', { publish: false }),
      ]);
      const flood = async (): Promise<string[]> =>
        Promise.all(
          Array.from({ length: 200 }, (_, i) =>
            i < unpublished.length ? stub.sign({}, { kid: unpublished[i] }) : randomKidToken(),
          ),
        );

      const concurrent = await Promise.all((await flood()).map((token) => rejection(guard.verify(token))));
      for (const error of concurrent) assertBearerError(error, 'ERR_BEARER_TOKEN_KEY_UNKNOWN', 401);
      assert.ok(stub.counters.jwks <= 2, `concurrent flood: ${String(stub.counters.jwks)} fetches`);

      for (const token of await flood()) {
        assertBearerError(await rejection(guard.verify(token)), 'ERR_BEARER_TOKEN_KEY_UNKNOWN', 401);
      }
      assert.ok(stub.counters.jwks <= 2, `after the sequential flood: ${String(stub.counters.jwks)} fetches`);
      assert.ok(stub.counters.jwks >= 1);
      // The guard still works for good tokens.
      await guard.verify(await stub.sign());
    });

    it('a sequential flood on a warm guard costs one fetch', async function () {
      const guard = guardFor({ jwksCache: { cooldown: 30_000, cacheMaxAge: 600_000 } });
      await guard.ready();
      for (let i = 0; i < 200; i++) {
        await rejectsWith(guard.verify(await randomKidToken()), 'ERR_BEARER_TOKEN_KEY_UNKNOWN', 401);
      }
      assert.equal(stub.counters.jwks, 2);
    });

    it('picks up a rotated key at once', async function () {
      const guard = guardFor({ jwksCache: { cooldown: 30_000, cacheMaxAge: 600_000 } });
      await guard.ready();
      const oldKid = stub.jwks().keys[0]?.['kid'] as string;
      await stub.rotateKeys('ES256', { retireOld: true });
      const principal = await guard.verify(await stub.sign({ sub: 'after-rotation' }));
      assert.equal(principal.subject, 'after-rotation');
      assert.equal(stub.counters.jwks, 2);
      // The cached set was replaced: a new token of the retired key is now unknown (no refetch in the cooldown).
      await rejectsWith(
        guard.verify(await stub.sign({ sub: 'old' }, { kid: oldKid })),
        'ERR_BEARER_TOKEN_KEY_UNKNOWN',
        401,
      );
      assert.equal(stub.counters.jwks, 2);
    });

    it('verifies a new token of a known key without a load, and forgets the key once a load drops it', async function () {
      const guard = guardFor({ jwksCache: { cooldown: 30_000, cacheMaxAge: 600_000 } });
      const oldKid = stub.jwks().keys[0]?.['kid'] as string;
      await guard.verify(await stub.sign({ sub: 'first' }));
      // The key jose chose for this alg and kid is remembered: a never-seen token needs no load.
      const second = await guard.verify(await stub.sign({ sub: 'second' }));
      assert.equal(second.subject, 'second');
      assert.equal(stub.counters.jwks, 1);

      await stub.rotateKeys('ES256', { retireOld: true });
      await guard.verify(await stub.sign({ sub: 'after-rotation' })); // the new kid: a reload
      assert.equal(stub.counters.jwks, 2);
      // The reload dropped the remembered selection along with the key.
      await rejectsWith(
        guard.verify(await stub.sign({ sub: 'old' }, { kid: oldKid })),
        'ERR_BEARER_TOKEN_KEY_UNKNOWN',
        401,
      );
    });

    it('accepts a key published just after start-up', async function () {
      const guard = guardFor({ jwksCache: { cooldown: 30_000, cacheMaxAge: 600_000 } });
      await guard.verify(await stub.sign());
      const kid = await stub.addKey('ES256');
      await guard.verify(await stub.sign({}, { kid }));
      assert.equal(stub.counters.jwks, 2);
    });
  });

  describe('stale-if-error', function () {
    it('keeps known keys working for staleMaxAge when refreshes fail, then answers 503', async function () {
      const guard = guardFor({
        tokenCache: false,
        jwksCache: { cooldown: 200, cacheMaxAge: 1000, staleMaxAge: 1000 },
      });
      await guard.verify(await stub.sign());
      const start = Date.now(); // the keys were loaded before this
      stub.setBehaviour('jwks', { mode: 'fail' });

      await sleep(1150 - (Date.now() - start));
      const principal = await guard.verify(await stub.sign({ sub: 'stale' }));
      assert.equal(principal.subject, 'stale');
      assert.equal(failed.length, 1);
      const [event] = failed;
      assert.ok(event);
      assert.equal(event.servingStaleKeys, true);
      assert.equal(event.trigger, 'expired');
      assert.equal(event.uri, stub.jwksUri);
      assert.ok(event.error instanceof Error);

      // A kid we have never seen cannot be checked while the set is unreachable: 503, not 401.
      await rejectsWith(guard.verify(await randomKidToken()), 'ERR_BEARER_JWKS_UNAVAILABLE', 503);

      await sleep(2150 - (Date.now() - start));
      const error = await rejectsWith(guard.verify(await stub.sign()), 'ERR_BEARER_JWKS_UNAVAILABLE', 503);
      assert.equal(error.error, 'temporarily_unavailable');
      assert.deepEqual(error.headers, { 'Retry-After': '1' });
      assert.equal(failed.at(-1)?.servingStaleKeys, false, 'past staleMaxAge no stale key is served');

      // Recovery: once the set answers again (and the retry interval has passed), tokens verify.
      stub.setBehaviour('jwks', { mode: 'ok' });
      await sleep(250);
      await guard.verify(await stub.sign());
    });

    it('while failing, does not refetch on every request (one attempt per retry interval)', async function () {
      stub.setBehaviour('jwks', { mode: 'fail' });
      const guard = guardFor({ jwksCache: { cooldown: 5000, cacheMaxAge: 1000 } });
      const tokens = await Promise.all(Array.from({ length: 20 }, () => stub.sign()));
      for (const error of await Promise.all(tokens.map((token) => rejection(guard.verify(token))))) {
        assertBearerError(error, 'ERR_BEARER_JWKS_UNAVAILABLE', 503);
      }
      for (const token of tokens) {
        const error = assertBearerError(
          await rejection(guard.verify(token)),
          'ERR_BEARER_JWKS_UNAVAILABLE',
          503,
        );
        assert.deepEqual(error.headers, { 'Retry-After': '5' });
      }
      assert.equal(stub.counters.jwks, 1);
      assert.equal(failed.length, 1);
      assert.equal(failed[0]?.servingStaleKeys, false);
      assert.equal(failed[0].trigger, 'initial');
    });
  });

  describe('key set unreachable or wrong', function () {
    it('JWKS down at start: 503 ERR_BEARER_JWKS_UNAVAILABLE for every token, never 401', async function () {
      stub.setBehaviour('jwks', { mode: 'fail', status: 500 });
      const guard = guardFor({ jwksCache: { cooldown: 0, cacheMaxAge: 1000 } });
      for (const token of [
        await stub.sign(),
        await stub.bad.expired(),
        await stub.bad.unknownKid(),
        await stub.bad.tampered(),
      ]) {
        const error = await rejectsWith(guard.verify(token), 'ERR_BEARER_JWKS_UNAVAILABLE', 503);
        assert.equal(error.headers['WWW-Authenticate'], undefined);
        assert.equal(error.expose, false);
      }
    });

    const modes: [string, EndpointBehaviour][] = [
      ['500', { mode: 'fail' }],
      ['503', { mode: 'fail', status: 503 }],
      ['404', { mode: 'notFound' }],
      ['garbage', { mode: 'garbage' }],
      ['html', { mode: 'html' }],
      ['huge (over maxResponseBytes)', { mode: 'huge' }],
      ['a redirect', { mode: 'redirect', location: '/jwks' }],
    ];
    for (const [label, behaviour] of modes) {
      it(`${label} → 503 on verify, ConfigurationError from ready()`, async function () {
        stub.setBehaviour('jwks', behaviour);
        const guard = guardFor({ jwksCache: { cooldown: 0, cacheMaxAge: 1000 } });
        await rejectsWith(guard.verify(await stub.sign()), 'ERR_BEARER_JWKS_UNAVAILABLE', 503);
        const error = assertConfigError(
          await rejection(guard.ready()),
          'ERR_BEARER_CONFIG_ISSUER_UNUSABLE',
          stub.issuer,
        );
        assert.ok(error.cause instanceof Error, 'ready() keeps the reason in cause');
        assert.equal(
          failed.every((event) => !event.servingStaleKeys),
          true,
        );
      });
    }

    it('a hanging JWKS → 503 after about the timeout, and ready() rejects', async function () {
      stub.setBehaviour('jwks', { mode: 'hang' });
      const guard = guardFor({ timeout: 300, jwksCache: { cooldown: 0, cacheMaxAge: 1000 } });
      const started = Date.now();
      await rejectsWith(guard.verify(await stub.sign()), 'ERR_BEARER_JWKS_UNAVAILABLE', 503);
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 250 && elapsed < 3000, `answered after ${String(elapsed)} ms`);
      assertConfigError(await rejection(guard.ready()), 'ERR_BEARER_CONFIG_ISSUER_UNUSABLE');
    });

    it('a huge body is refused within maxResponseBytes even without Content-Length', async function () {
      const server = await startTinyServer((_req, res) => {
        res.setHeader('content-type', 'application/json');
        res.write(`{"keys":${JSON.stringify(stub.jwks().keys)},"padding":"`);
        res.write('a'.repeat(4096));
        res.end('"}');
      });
      try {
        const url = `${server.origin}/jwks`;
        await rejectsWith(
          guardFor({ jwksUri: url, maxResponseBytes: 2048 }).verify(await stub.sign()),
          'ERR_BEARER_JWKS_UNAVAILABLE',
          503,
        );
        // The same document is fine under a larger cap.
        await guardFor({ jwksUri: url, maxResponseBytes: 65_536 }).verify(await stub.sign());
      } finally {
        await server.close();
      }
    });

    it('does not follow a redirect, even to the real key set', async function () {
      const server = await startTinyServer((_req, res) => {
        res.statusCode = 302;
        res.setHeader('location', stub.jwksUri);
        res.end();
      });
      try {
        await rejectsWith(
          guardFor({ jwksUri: `${server.origin}/jwks` }).verify(await stub.sign()),
          'ERR_BEARER_JWKS_UNAVAILABLE',
          503,
        );
        assert.equal(server.hits, 1);
        assert.equal(stub.counters.jwks, 0);
      } finally {
        await server.close();
      }
    });

    it('JSON that is not a JWK Set → 503', async function () {
      for (const body of ['{"keys":"nope"}', '[]', '{"keys":[1]}', 'null']) {
        const server: TinyServer = await startTinyServer((_req, res) => {
          res.setHeader('content-type', 'application/json');
          res.end(body);
        });
        try {
          await rejectsWith(
            guardFor({ jwksUri: `${server.origin}/jwks` }).verify(await stub.sign()),
            'ERR_BEARER_JWKS_UNAVAILABLE',
            503,
          );
        } finally {
          await server.close();
        }
      }
    });

    it('a refused connection → 503', async function () {
      const server = await startTinyServer((_req, res) => res.end());
      const url = `${server.origin}/jwks`;
      await server.close();
      await rejectsWith(
        guardFor({ jwksUri: url }).verify(await stub.sign()),
        'ERR_BEARER_JWKS_UNAVAILABLE',
        503,
      );
    });

    it('ready() resolves when the key set is up and rejects with a ConfigurationError when it is down', async function () {
      await guardFor().ready();
      stub.setBehaviour('jwks', { mode: 'fail' });
      const error = await rejection(guardFor().ready());
      assert.ok(error instanceof ConfigurationError);
      assert.equal(error.code, 'ERR_BEARER_CONFIG_ISSUER_UNUSABLE');
    });
  });
});
