import assert from 'node:assert/strict';

import { redisIntrospectionStore } from '@bearer-guard/redis';
import type { RedisIntrospectionStoreOptions, SendCommandClient } from '@bearer-guard/redis';

import { HMAC_KEY } from './support/guards.js';

/** Options are checked at construction: no command is sent, so no server is needed. */
const client: { client: SendCommandClient } = { client: { sendCommand: () => Promise.resolve(null) } };

describe('@bearer-guard/redis: redisIntrospectionStore options', function () {
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    [
      'no hmacKey',
      {},
      'ERR_BEARER_CONFIG_MISSING_OPTION',
      /`redisIntrospectionStore.hmacKey` is required: a secret of at least 32 bytes/,
    ],
    [
      'a short hmacKey',
      { hmacKey: 'short' },
      'ERR_BEARER_CONFIG_INVALID_OPTION',
      /`redisIntrospectionStore.hmacKey` must be a secret of at least 32 bytes.*received "<5 bytes>"/,
    ],
    ['a numeric hmacKey', { hmacKey: 42 }, 'ERR_BEARER_CONFIG_INVALID_OPTION', /hmacKey/],
    [
      'a typo',
      { hmacKey: HMAC_KEY, localTTL: 5 },
      'ERR_BEARER_CONFIG_UNKNOWN_OPTION',
      /`redisIntrospectionStore.localTTL` is not an option; did you mean `localTtl`\?/,
    ],
    [
      'a zero timeout',
      { hmacKey: HMAC_KEY, timeout: 0 },
      'ERR_BEARER_CONFIG_INVALID_OPTION',
      /`redisIntrospectionStore.timeout` must be an integer from 1 to 60000 \(ms\)/,
    ],
    [
      'a long localTtl',
      { hmacKey: HMAC_KEY, localTtl: 3_600_000 },
      'ERR_BEARER_CONFIG_INVALID_OPTION',
      /localTtl/,
    ],
    [
      'a bad breaker',
      { hmacKey: HMAC_KEY, breaker: { cooldown: -1 } },
      'ERR_BEARER_CONFIG_INVALID_OPTION',
      /`redisIntrospectionStore.breaker.cooldown`/,
    ],
    ['a bad onError', { hmacKey: HMAC_KEY, onError: 'log' }, 'ERR_BEARER_CONFIG_INVALID_OPTION', /onError/],
  ];
  for (const [label, options, code, message] of cases) {
    it(`refuses ${label} at construction`, function () {
      assert.throws(
        () =>
          redisIntrospectionStore({
            client: client.client,
            ...options,
          } as unknown as RedisIntrospectionStoreOptions),
        (error: Error & { code?: string }) => {
          assert.equal(error.name, 'ConfigurationError');
          assert.equal(error.code, code);
          assert.match(error.message, message);
          assert.ok(!error.message.includes(HMAC_KEY), 'the secret is never quoted');
          return true;
        },
      );
    });
  }

  it('never quotes an hmacKey that is too short', function () {
    assert.throws(
      () => redisIntrospectionStore({ client: client.client, hmacKey: 'a-secret-of-31-bytes-0123456789' }),
      (error: Error) =>
        !error.message.includes('a-secret') && error.message.includes('received "<31 bytes>"'),
    );
    assert.doesNotThrow(() =>
      redisIntrospectionStore({ client: client.client, hmacKey: new Uint8Array(32) }),
    );
  });
});
