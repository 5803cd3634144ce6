import assert from 'node:assert/strict';

import { ConfigurationError, DpopProofQuotaError, MemoryDpopReplayStore } from '@bearer-guard/core';

describe('MemoryDpopReplayStore (RFC 9449 §11.1)', function () {
  it('records a key once per partition while it lives, and again once it expired', function () {
    const store = new MemoryDpopReplayStore();
    assert.equal(store.setIfAbsent('k', 1000, 'jkt-a', 0), true);
    assert.equal(store.setIfAbsent('k', 1000, 'jkt-a', 999), false);
    assert.equal(store.setIfAbsent('k', 1000, 'jkt-a', 1000), true);
    assert.equal(store.size, 1);
  });

  it('a partition at maxPerKey is refused with the time until its oldest proof expires; expiry frees room', function () {
    const store = new MemoryDpopReplayStore({ max: 10, maxPerKey: 2 });
    store.setIfAbsent('a1', 5000, 'a', 0);
    store.setIfAbsent('a2', 9000, 'a', 0);
    assert.throws(
      () => store.setIfAbsent('a3', 1000, 'a', 1000),
      (error: unknown) => error instanceof DpopProofQuotaError && error.retryAfter === 4,
    );
    assert.equal(store.setIfAbsent('b1', 1000, 'b', 1000), true);
    assert.equal(store.setIfAbsent('a3', 1000, 'a', 5000), true);
    assert.equal(store.size, 3);
  });

  it('the whole store at max fails closed with a plain error (503), and recovers once proofs expire', function () {
    const store = new MemoryDpopReplayStore({ max: 2, maxPerKey: 1 });
    store.setIfAbsent('a', 1000, 'a', 0);
    store.setIfAbsent('b', 1000, 'b', 0);
    assert.throws(
      () => store.setIfAbsent('c', 1000, 'c', 10),
      (error: unknown) => error instanceof Error && !(error instanceof DpopProofQuotaError),
    );
    // Expired proofs are swept at most once a second (a sweep walks the whole store).
    assert.equal(store.setIfAbsent('c', 1000, 'c', 1010), true);
    assert.equal(store.size, 1);
  });

  it('validates its options at construction', function () {
    for (const options of [0, -1, 1.5, { max: Number.NaN }, { maxPerKey: 0 }]) {
      assert.throws(
        () => new MemoryDpopReplayStore(options),
        (error: unknown) =>
          error instanceof ConfigurationError && error.code === 'ERR_BEARER_CONFIG_INVALID_OPTION',
      );
    }
    assert.throws(
      () => new MemoryDpopReplayStore({ max: 5, maxPerKey: 6 }),
      (error: unknown) =>
        error instanceof ConfigurationError &&
        error.code === 'ERR_BEARER_CONFIG_CONFLICTING_OPTIONS' &&
        error.message.includes('`maxPerKey` (6) is more than `max` (5)'),
    );
    // A small max lowers the default quota with it.
    const small = new MemoryDpopReplayStore(3);
    for (const key of ['a', 'b', 'c']) small.setIfAbsent(key, 1000, 'p', 0);
    assert.throws(() => small.setIfAbsent('d', 1000, 'p', 0));
  });
});
