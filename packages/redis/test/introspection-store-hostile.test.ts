import assert from 'node:assert/strict';

import type { IntrospectionCacheEntry } from '@bearer-guard/core';
import { redisIntrospectionStore } from '@bearer-guard/redis';

import { NODE_REDIS_6, type TestClient } from './support/clients.js';
import { HMAC_KEY } from './support/guards.js';
import { startRedisServer, type RedisServer } from './support/redis-server.js';

/** A real client whose `GETRANGE` (read) replies are held until the test releases them, one by one, in order. */
function heldGets(client: TestClient): {
  client: { sendCommand(args: string[]): Promise<unknown> };
  release(): void;
  held(): number;
} {
  const gates: (() => void)[] = [];
  return {
    client: {
      sendCommand: async (args) => {
        const reply = await client.command(args);
        if (args[0] === 'GETRANGE') await new Promise<void>((resolve) => gates.push(resolve));
        return reply;
      },
    },
    release: () => gates.shift()?.(),
    held: () => gates.length,
  };
}

const until = async (check: () => boolean): Promise<void> => {
  while (!check()) await new Promise((resolve) => setImmediate(resolve));
};

describe('@bearer-guard/redis: delete() while a GET is in flight', function () {
  let redis: RedisServer;
  let client: TestClient;

  before(async function () {
    redis = await startRedisServer();
    client = await NODE_REDIS_6.connect(redis.url);
  });

  after(async function () {
    await (client as TestClient | undefined)?.close();
    await (redis as RedisServer | undefined)?.stop();
  });

  it('a GET answered before delete() is not kept in memory, even when another get() started meanwhile', async function () {
    const entry: IntrospectionCacheEntry = { active: true, context: 'ctx', claims: { scope: 'read' } };
    await redisIntrospectionStore({ client: client.client, hmacKey: HMAC_KEY }).set('k', entry, 60_000);
    const gated = heldGets(client);
    const replica = redisIntrospectionStore({ client: gated.client, hmacKey: HMAC_KEY });

    const before = replica.get('k'); // its GET reads the entry, and its reply is held
    await until(() => gated.held() === 1);
    await replica.delete('k'); // the token is revoked: gone from Redis
    const after = replica.get('k'); // a new lookup, after the delete
    await until(() => gated.held() === 2);
    gated.release(); // the stale reply of the first GET lands
    assert.deepEqual(await before, entry, 'the lookup that started before delete() may answer it');
    gated.release();
    assert.equal(await after, undefined);

    const next = replica.get('k');
    if (next instanceof Promise) {
      await until(() => gated.held() === 1);
      gated.release();
    }
    assert.equal(await next, undefined, 'the revoked entry is not kept in this replica’s memory');
    assert.equal(replica.localSize, 0);
  });
});

describe('@bearer-guard/redis: a huge value planted in Redis', function () {
  let redis: RedisServer;
  let client: TestClient;

  before(async function () {
    redis = await startRedisServer();
    client = await NODE_REDIS_6.connect(redis.url);
  });

  after(async function () {
    await (client as TestClient | undefined)?.close();
    await (redis as RedisServer | undefined)?.stop();
  });

  it('is read at most 1 MiB of, and is a miss (ERR_BEARER_REDIS_INVALID_ENTRY)', async function () {
    this.timeout(30_000);
    const replies: number[] = [];
    const measuring = {
      sendCommand: async (args: string[]) => {
        const reply = await client.command(args);
        if (typeof reply === 'string') replies.push(Buffer.byteLength(reply));
        return reply;
      },
    };
    const store = redisIntrospectionStore({ client: measuring, hmacKey: HMAC_KEY, localTtl: 0 });
    // 64 MiB under the key of a cached token, with a plausible tag and expiry in front.
    await client.command(['SET', store.redisKey('k'), `${'A'.repeat(43)}.${String(Date.now() + 60_000)}.`]);
    await client.command(['SETRANGE', store.redisKey('k'), String(64 * 1024 * 1024), '}']);
    await assert.rejects(Promise.resolve(store.get('k')), { code: 'ERR_BEARER_REDIS_INVALID_ENTRY' });
    assert.ok(replies.length > 0 && Math.max(...replies) <= 1024 * 1024 + 1, String(replies));
  });

  it('an entry too large for Redis is kept in memory only, and written nowhere', async function () {
    const store = redisIntrospectionStore({ client: client.client, hmacKey: HMAC_KEY });
    const big: IntrospectionCacheEntry = {
      active: true,
      context: 'ctx',
      claims: { scope: 'read', blob: 'x'.repeat(1024 * 1024) },
    };
    await store.set('big', big, 60_000);
    assert.equal(await client.command(['EXISTS', store.redisKey('big')]), 0);
    assert.equal(store.localSize, 1);
  });
});
