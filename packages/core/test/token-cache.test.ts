import assert from 'node:assert/strict';

import { createGuard } from '@bearer-guard/core';
import type { BearerGuard, SingleIssuerOptions } from '@bearer-guard/core';
import { startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub } from '@bearer-guard/testkit';

import { nowSeconds, rejectsWith, sleep } from './helpers.js';

const bearer = (token: string) => ({
  method: 'GET',
  url: '/',
  headers: { authorization: `Bearer ${token}` },
});

/** Wait, if need be, until early in an epoch second, so "now + 1" leaves at least half a second. */
async function earlyInSecond(): Promise<void> {
  const ms = Date.now() % 1000;
  if (ms > 500) await sleep(1010 - ms);
}

/** Sleep until the epoch-second clock reaches `seconds`, plus a margin. */
async function sleepUntilSecond(seconds: number, marginMs = 50): Promise<void> {
  await sleep(Math.max(0, seconds * 1000 - Date.now() + marginMs));
}

for (const admission of ['second-use', 'first-use'] as const)
  describe(`token-cache: the verified-token cache (admission: ${admission})`, function () {
    let stub: AuthorizationServerStub;

    function guardFor(extra: Partial<SingleIssuerOptions> = {}): BearerGuard {
      const { tokenCache, ...rest } = extra;
      return createGuard({
        issuer: stub.issuer,
        audience: stub.audience,
        jwksUri: stub.jwksUri,
        timeout: 2000,
        jwksCache: { cooldown: 200, cacheMaxAge: 1000 },
        tokenCache: tokenCache === false ? false : { admission, ...tokenCache },
        ...rest,
      });
    }

    /** Verify `token` until the cache holds it: once with 'first-use', twice with 'second-use'. */
    async function cacheIt(guard: BearerGuard, token: string) {
      if (admission === 'second-use') await guard.verify(token);
      return guard.verify(token);
    }

    beforeEach(async function () {
      stub = await startAuthorizationServer({ algorithms: ['ES256'] });
    });

    afterEach(async function () {
      await stub.close();
    });

    it('answers a token seen before with the same frozen principal', async function () {
      const guard = guardFor();
      const token = await stub.sign();
      const first = await cacheIt(guard, token);
      const second = await guard.verify(token);
      assert.equal(second, first, 'the very same object: no second verification');
      assert.ok(Object.isFrozen(first));
      assert.ok(Object.isFrozen(first.claims));
      assert.ok(Object.isFrozen(first.scopes));
      assert.equal(
        Reflect.set(first.claims, 'scope', 'admin'),
        false,
        'a cached principal cannot be altered',
      );
      assert.equal(first.claims['scope'], 'read write');
    });

    it('tokenCache: false verifies every time', async function () {
      const guard = guardFor({ tokenCache: false });
      const token = await stub.sign();
      const first = await guard.verify(token);
      const second = await guard.verify(token);
      assert.notEqual(second, first);
      assert.deepEqual(second, first);
    });

    it('skips the signature check on a hit: a cached token passes while refreshes fail, within staleMaxAge', async function () {
      const jwksCache = { cooldown: 200, cacheMaxAge: 1000, staleMaxAge: 60_000 };
      const guard = guardFor({ jwksCache });
      const token = await stub.sign({ sub: 'cached' });
      const cached = await cacheIt(guard, token);

      stub.setBehaviour('jwks', { mode: 'fail' });
      await sleep(1100); // past cacheMaxAge: the next verification tries a refresh, which fails
      assert.equal((await guard.verify(token)).subject, 'cached');
      assert.equal(await guard.verify(token), await guard.verify(token), 'answered from the cache');
      assert.equal((await guard.verify(await stub.sign())).source, 'jwt', 'stale keys still verify');
      assert.notEqual(cached, undefined);
    });

    it('refuses a cached token with 503, as an uncached one, once its keys are past staleMaxAge', async function () {
      const jwksCache = { cooldown: 200, cacheMaxAge: 1000, staleMaxAge: 0 };
      const cached = guardFor({ jwksCache });
      const uncached = guardFor({ jwksCache, tokenCache: false });
      const token = await stub.sign({ sub: 'cached' });
      await cacheIt(cached, token);
      await uncached.verify(token);

      stub.setBehaviour('jwks', { mode: 'fail' });
      await sleep(1100); // past cacheMaxAge, and staleMaxAge is 0: no key is usable any more
      await rejectsWith(uncached.verify(token), 'ERR_BEARER_JWKS_UNAVAILABLE', 503);
      await rejectsWith(cached.verify(token), 'ERR_BEARER_JWKS_UNAVAILABLE', 503);
      // Back up: the token passes again (and its entry was kept).
      stub.setBehaviour('jwks', { mode: 'ok' });
      await sleep(250); // the retry interval
      assert.equal((await cached.verify(token)).subject, 'cached');
    });

    it('never serves a token past its exp', async function () {
      const guard = guardFor({ clockTolerance: 0 });
      await earlyInSecond();
      const exp = nowSeconds() + 1;
      const token = await stub.sign({ exp });
      await cacheIt(guard, token);
      await guard.verify(token);
      await sleepUntilSecond(exp);
      await rejectsWith(guard.verify(token), 'ERR_BEARER_TOKEN_EXPIRED', 401);
      await rejectsWith(guard.verify(token), 'ERR_BEARER_TOKEN_EXPIRED', 401);
    });

    it('applies clockTolerance on hits as on the first verification', async function () {
      const guard = guardFor({ clockTolerance: 1 });
      await earlyInSecond();
      const exp = nowSeconds();
      const token = await stub.sign({ exp });
      await cacheIt(guard, token); // exp is now: expired, but within the tolerance
      await guard.verify(token);
      await sleepUntilSecond(exp + 1);
      await rejectsWith(guard.verify(token), 'ERR_BEARER_TOKEN_EXPIRED', 401);
    });

    it('re-checks maxTokenAge on hits', async function () {
      const guard = guardFor({ clockTolerance: 0, maxTokenAge: 1 });
      await earlyInSecond();
      const iat = nowSeconds() - 1;
      const token = await stub.sign({}, { issuedAt: iat });
      await cacheIt(guard, token);
      await sleepUntilSecond(iat + 2);
      await rejectsWith(guard.verify(token), 'ERR_BEARER_TOKEN_TOO_OLD', 401);
    });

    it('does not cache failures: a token refused for an unknown key passes once its key is published', async function () {
      const guard = guardFor();
      await guard.ready();
      const kid = await stub.addKey('ES256', { publish: false });
      const token = await stub.sign({}, { kid });
      await rejectsWith(guard.verify(token), 'ERR_BEARER_TOKEN_KEY_UNKNOWN', 401);
      stub.publishKey(kid);
      await sleep(250); // the cooldown
      await guard.verify(token);
    });

    it('is bounded by tokenCache.max (LRU)', async function () {
      const guard = guardFor({ tokenCache: { max: 1 } });
      const a = await stub.sign({ sub: 'a' });
      const b = await stub.sign({ sub: 'b' });
      const first = await cacheIt(guard, a);
      assert.equal(await guard.verify(a), first);
      await cacheIt(guard, b); // evicts a
      const again = await guard.verify(a);
      assert.notEqual(again, first);
      assert.equal(again.subject, 'a');
    });

    it('keys entries by the whole token: another token of the same claims is verified on its own', async function () {
      const guard = guardFor();
      const token = await stub.sign({ jti: 'same' });
      await cacheIt(guard, token);
      // Same header and claims, broken signature: must not be answered from the cache.
      const forged = `${token.slice(0, token.lastIndexOf('.'))}.${'A'.repeat(86)}`;
      await rejectsWith(guard.verify(forged), 'ERR_BEARER_TOKEN_SIGNATURE_INVALID', 401);
    });

    it("a token that ends with a cached token's signature is not taken for it", async function () {
      const guard = guardFor();
      const token = await stub.sign({ sub: 'alice', scope: 'read' });
      const cached = await cacheIt(guard, token);
      const [header = '', , signature = ''] = token.split('.');
      // Other claims under the cached token's signature (the cache's key), and the signature alone.
      const claims = Buffer.from(JSON.stringify({ ...cached.claims, sub: 'mallory', scope: 'admin' }));
      const forged = `${header}.${claims.toString('base64url')}.${signature}`;
      await rejectsWith(guard.verify(forged), 'ERR_BEARER_TOKEN_SIGNATURE_INVALID', 401);
      await rejectsWith(guard.verify(signature), 'ERR_BEARER_TOKEN_MALFORMED', 401);
      assert.equal(await guard.verify(token), cached, 'the cached principal still answers');
    });
    if (admission === 'second-use') {
      it('caches a token on its second verification, not its first', async function () {
        const guard = guardFor();
        const once = await stub.sign({ sub: 'once' });
        const twice = await stub.sign({ sub: 'twice' });
        const first = await guard.verify(once);
        const second = await guard.verify(twice);
        const third = await guard.verify(twice);
        assert.notEqual(second, third, 'verified twice: two principals');
        assert.notEqual(first, undefined);
        // authenticateCached() answers only from the cache.
        assert.equal(guard.authenticateCached(bearer(once)), undefined);
        assert.equal(guard.authenticateCached(bearer(twice)), third);
      });

      it('admits every token of a rotation on its second pass (no two tokens keep each other out)', async function () {
        const guard = guardFor({
          jwksCache: { cooldown: 200, cacheMaxAge: 60_000 },
          tokenCache: { max: 400 },
        });
        const tokens = await Promise.all(
          Array.from({ length: 400 }, (_, i) => stub.sign({ sub: `rotation-${String(i)}` })),
        );
        for (let pass = 0; pass < 2; pass++) for (const token of tokens) await guard.verify(token);

        // authenticateCached() answers only from the cache.
        const cached = tokens.filter((token) => guard.authenticateCached(bearer(token)) !== undefined);
        assert.equal(cached.length, tokens.length);
      });

      it('a burst of tokens used once does not evict a token in use', async function () {
        const guard = guardFor({ tokenCache: { max: 1 } });
        const reused = await stub.sign({ sub: 'reused' });
        const cached = await cacheIt(guard, reused);
        for (let i = 0; i < 5; i++) await guard.verify(await stub.sign({ sub: `one-off-${String(i)}` }));
        assert.equal(await guard.verify(reused), cached, 'still the cached principal');
      });
    }
  });
