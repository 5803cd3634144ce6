import assert from 'node:assert/strict';

import { redisIntrospectionStore, redisReplayStore } from '@bearer-guard/redis';
import type { RedisStoreErrorEvent, SendCommandClient } from '@bearer-guard/redis';
import { Cluster } from 'ioredis';
import { createClient, createCluster, createSentinel } from 'redis';

import { CLIENT_KINDS, NODE_REDIS_6, reconnected, type TestClient } from './support/clients.js';
import { HMAC_KEY, sleep } from './support/guards.js';
import { startRedisServer, type RedisServer } from './support/redis-server.js';

/** A `{ sendCommand }` client that fails or hangs as told, and counts what it was sent. */
class ScriptedClient implements SendCommandClient {
  readonly sent: string[][] = [];
  signals: AbortSignal[] = [];
  mode: 'fail' | 'hang' | 'ok' = 'ok';
  sendCommand(args: string[], options?: { abortSignal?: AbortSignal }): Promise<unknown> {
    this.sent.push(args);
    if (options?.abortSignal !== undefined) this.signals.push(options.abortSignal);
    if (this.mode === 'fail') return Promise.reject(new Error('connection refused'));
    if (this.mode === 'hang') return new Promise(() => undefined);
    return Promise.resolve(args[0] === 'SET' ? 'OK' : null);
  }
}

describe('@bearer-guard/redis: clients, deadlines and the circuit breaker', function () {
  let redis: RedisServer;
  const clients: TestClient[] = [];

  before(async function () {
    redis = await startRedisServer();
  });

  after(async function () {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await (redis as RedisServer | undefined)?.stop(); // undefined when redis-server could not start
  });

  for (const kind of CLIENT_KINDS) {
    it(`sends commands through ${kind.name}`, async function () {
      const client = await kind.connect(redis.url);
      clients.push(client);
      const store = redisReplayStore({ client: client.client, keyPrefix: `${kind.name}:` });
      assert.equal(await store.setIfAbsent('proof', 10_000), true);
      assert.equal(await store.setIfAbsent('proof', 10_000), false);
      assert.equal(await client.command(['GET', `${kind.name}:proof`]), '1');
    });
  }

  it('refuses at construction what is no client, saying what is', function () {
    const help =
      /a node-redis client \(`await createClient\(\).connect\(\)`\), an ioredis client \(`new Redis\(\)`\) or `\{ sendCommand\(args: string\[\]\): Promise<unknown> \}`/;
    for (const client of [
      undefined,
      null,
      'redis://localhost',
      {},
      { get: () => null },
      { call: () => null },
    ]) {
      assert.throws(
        () => redisReplayStore({ client } as never),
        (error: Error & { code?: string }) =>
          error.name === 'ConfigurationError' &&
          /^ERR_BEARER_CONFIG_(MISSING|INVALID)_OPTION$/.test(error.code ?? '') &&
          help.test(error.message),
      );
    }
    assert.throws(() => redisReplayStore(undefined as never), /`redisReplayStore` must be an options object/);
  });

  it('refuses node-redis cluster and sentinel clients with the wrapper to write, and takes an ioredis Cluster', function () {
    const cluster = createCluster({ rootNodes: [{ url: redis.url }] });
    assert.throws(
      () => redisIntrospectionStore({ client: cluster as never, hmacKey: HMAC_KEY }),
      /node-redis cluster client; pass `\{ sendCommand: \(args\) => cluster.sendCommand\(args\[1\], false, args\) \}`/,
    );
    const sentinel = createSentinel({
      name: 'primary',
      sentinelRootNodes: [{ host: '127.0.0.1', port: redis.port }],
    });
    assert.throws(
      () => redisReplayStore({ client: sentinel as never }),
      /node-redis sentinel client; pass `\{ sendCommand: \(args\) => sentinel.sendCommand\(false, args\) \}`/,
    );
    const ioCluster = new Cluster([{ host: '127.0.0.1', port: redis.port }], { lazyConnect: true });
    assert.doesNotThrow(() => redisReplayStore({ client: ioCluster }));
    // Types: a node-redis client as it is.
    assert.doesNotThrow(() => redisReplayStore({ client: createClient() }));
  });

  it('holds its deadline while node-redis queues commands for a Redis that is gone, and aborts them', async function () {
    this.timeout(30_000);
    const client = await NODE_REDIS_6.connect(redis.url);
    clients.push(client);
    const errors: RedisStoreErrorEvent[] = [];
    const store = redisReplayStore({
      client: client.client,
      timeout: 100,
      breaker: false,
      onError: (e) => errors.push(e),
    });
    await redis.kill();
    try {
      for (let i = 0; i < 3; i++) {
        await assert.rejects(store.setIfAbsent(`proof-${String(i)}`, 10_000), {
          code: 'ERR_BEARER_REDIS_TIMEOUT',
        });
      }
      assert.equal(errors.length, 3);
    } finally {
      await redis.restart();
    }
    await reconnected(client);
    // node-redis dropped the aborted commands from its offline queue: none reached the new server late.
    assert.equal(await client.command(['DBSIZE']), 0);
  });

  it('aborts the command at the deadline and opens the circuit after consecutive failures', async function () {
    const scripted = new ScriptedClient();
    const store = redisReplayStore({
      client: scripted,
      timeout: 50,
      breaker: { failureThreshold: 2, cooldown: 500 },
    });
    scripted.mode = 'hang';
    await assert.rejects(store.setIfAbsent('a', 1000), { code: 'ERR_BEARER_REDIS_TIMEOUT' });
    assert.equal(scripted.signals[0]?.aborted, true, 'the client is told to drop the command');
    scripted.mode = 'fail';
    await assert.rejects(
      store.setIfAbsent('a', 1000),
      (error: Error & { code?: string; cause?: unknown }) => {
        assert.equal(error.code, 'ERR_BEARER_REDIS_COMMAND_FAILED');
        assert.match((error.cause as Error).message, /connection refused/);
        return true;
      },
    );
    assert.equal(store.circuitState, 'open');
    scripted.mode = 'ok';
    const sent = scripted.sent.length;
    await assert.rejects(store.setIfAbsent('a', 1000), { code: 'ERR_BEARER_REDIS_CIRCUIT_OPEN' });
    assert.equal(scripted.sent.length, sent, 'an open circuit sends nothing');
    await sleep(550);
    assert.equal(store.circuitState, 'half-open');
    assert.equal(await store.setIfAbsent('a', 1000), true, 'the probe goes through');
    assert.equal(store.circuitState, 'closed');
  });

  it('lets one probe through a half-open circuit, and reopens it when the probe fails', async function () {
    const scripted = new ScriptedClient();
    const store = redisReplayStore({
      client: scripted,
      timeout: 50,
      breaker: { failureThreshold: 1, cooldown: 60 },
    });
    scripted.mode = 'fail';
    await assert.rejects(store.setIfAbsent('a', 1000), { code: 'ERR_BEARER_REDIS_COMMAND_FAILED' });
    await sleep(80);
    scripted.mode = 'hang';
    const probe = store.setIfAbsent('a', 1000);
    await assert.rejects(store.setIfAbsent('b', 1000), { code: 'ERR_BEARER_REDIS_CIRCUIT_OPEN' });
    await assert.rejects(probe, { code: 'ERR_BEARER_REDIS_TIMEOUT' });
    assert.equal(store.circuitState, 'open');
  });

  it('takes OK as bytes from a client set up for binary replies', async function () {
    const replies: unknown[] = [Buffer.from('OK'), null];
    const store = redisReplayStore({
      client: { sendCommand: () => Promise.resolve(replies.shift() ?? null) },
    });
    assert.equal(await store.setIfAbsent('a', 1000), true);
    assert.equal(await store.setIfAbsent('a', 1000), false);
  });

  it('treats a reply that SET NX cannot give as a failure', async function () {
    const store = redisReplayStore({ client: { sendCommand: () => Promise.resolve(1) } });
    await assert.rejects(store.setIfAbsent('a', 1000), { code: 'ERR_BEARER_REDIS_INVALID_REPLY' });
    const throwing = redisReplayStore({
      client: {
        sendCommand: () => {
          throw new Error('closed');
        },
      },
    });
    await assert.rejects(throwing.setIfAbsent('a', 1000), { code: 'ERR_BEARER_REDIS_COMMAND_FAILED' });
  });
});
