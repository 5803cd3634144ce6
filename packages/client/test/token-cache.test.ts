import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { TokenCache, type CachedToken } from '../src/token-cache.js';

/** A token valid for an hour; the cache only reads its times. */
function tokenNamed(accessToken: string): CachedToken {
  const now = performance.now();
  return { accessToken, scope: undefined, expiresAt: now + 3_600_000, renewAt: now + 3_000_000 };
}

describe('TokenCache bound', () => {
  it('holds at most maxSlots keys, evicting the least recently used even when every token is valid', async () => {
    const cache = new TokenCache({ maxSlots: 3 });
    const acquired: string[] = [];
    const get = (key: string) =>
      cache.get(key, () => {
        acquired.push(key);
        return Promise.resolve(tokenNamed(key));
      });
    for (const key of ['a', 'b', 'c']) await get(key);
    await get('a'); // now b is the least recently used
    await get('d');
    assert.equal(cache.size, 3);
    assert.deepEqual(acquired, ['a', 'b', 'c', 'd']);
    assert.equal(cache.peek('b'), undefined);
    for (const key of ['a', 'c', 'd']) assert.equal((await get(key)).accessToken, key);
    assert.deepEqual(acquired, ['a', 'b', 'c', 'd'], 'a, c and d are still cached');
    await get('b');
    assert.equal(cache.size, 3);
    assert.deepEqual(acquired, ['a', 'b', 'c', 'd', 'b']);
    assert.equal(cache.peek('a'), undefined, 'a was the least recently used');
  });

  it('keeps the bound when every slot waits for a token, and the evicted flight still settles', async () => {
    const cache = new TokenCache({ maxSlots: 2 });
    const pending: ((token: CachedToken) => void)[] = [];
    const get = (key: string) =>
      cache.get(key, () => new Promise<CachedToken>((resolve) => pending.push(resolve)));
    const first = get('a');
    void get('b');
    void get('c');
    assert.equal(cache.size, 2);
    for (const resolve of pending) resolve(tokenNamed('t'));
    assert.equal((await first).accessToken, 't');
    assert.equal(cache.size, 2);
  });

  it('drops a refused token at most once per refusal cooldown, and again after it', async () => {
    const cache = new TokenCache({ refusalCooldown: 100 });
    let issued = 0;
    const get = () => cache.get('k', () => Promise.resolve(tokenNamed(`t${String(++issued)}`)));
    assert.equal((await get()).accessToken, 't1');
    assert.equal(cache.refuse('k', 't1'), true, 'the first refusal drops the token');
    assert.equal((await get()).accessToken, 't2');
    assert.equal(cache.refuse('k', 't1'), true, 'a refusal of a replaced token retries with the new one');
    assert.equal(cache.refuse('k', 't2'), false, 'within the cooldown nothing is dropped');
    assert.equal((await get()).accessToken, 't2');
    await sleep(120);
    assert.equal(cache.refuse('k', 't2'), true);
    assert.equal((await get()).accessToken, 't3');
  });
});
