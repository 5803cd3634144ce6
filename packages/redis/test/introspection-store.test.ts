import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

import type { IntrospectionCacheEntry, IntrospectionStore } from '@bearer-guard/core';
import { redisIntrospectionStore, redisReplayStore } from '@bearer-guard/redis';
import type { RedisIntrospectionStoreOptions, RedisStoreErrorEvent } from '@bearer-guard/redis';
import { createDpopProof, generateDpopKey, startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub } from '@bearer-guard/testkit';

import { CLIENT_KINDS, dump, NODE_REDIS_6, reconnected, type TestClient } from './support/clients.js';
import { HMAC_KEY, HTU, sleep, startReplica, until, type Replica } from './support/guards.js';
import { startRedisServer, type RedisServer } from './support/redis-server.js';

/** A store that records the keys the guard passes (to look for them in Redis). */
function recorded(store: IntrospectionStore): { store: IntrospectionStore; keys: Set<string> } {
  const keys = new Set<string>();
  return {
    keys,
    store: {
      get: (key) => (keys.add(key), store.get(key)),
      set: (key, value, ttl) => (keys.add(key), store.set(key, value, ttl)),
      delete: (key) => store.delete(key),
    },
  };
}

const digests = (token: string): string[] =>
  (['hex', 'base64', 'base64url'] as const).map((encoding) =>
    createHash('sha256').update(token).digest(encoding),
  );

describe('@bearer-guard/redis: redisIntrospectionStore', function () {
  let as: AuthorizationServerStub;
  let redis: RedisServer;
  const replicas: Replica[] = [];
  const clients: TestClient[] = [];

  before(async function () {
    as = await startAuthorizationServer();
    redis = await startRedisServer();
  });

  after(async function () {
    await (as as AuthorizationServerStub | undefined)?.close();
    await (redis as RedisServer | undefined)?.stop(); // undefined when redis-server could not start
  });

  beforeEach(async function () {
    as.resetCounters();
    const admin = await NODE_REDIS_6.connect(redis.url);
    await admin.command(['FLUSHALL']);
    await admin.close();
  });

  afterEach(async function () {
    await Promise.all(replicas.splice(0).map((replica) => replica.close()));
    await Promise.all(clients.splice(0).map((client) => client.close()));
  });

  async function connect(kind = NODE_REDIS_6): Promise<TestClient> {
    const client = await kind.connect(redis.url);
    clients.push(client);
    return client;
  }

  async function replica(...args: Parameters<typeof startReplica>): Promise<Replica> {
    const started = await startReplica(...args);
    replicas.push(started);
    return started;
  }

  const store = (client: TestClient, options: Partial<RedisIntrospectionStoreOptions> = {}) =>
    redisIntrospectionStore({ client: client.client, hmacKey: HMAC_KEY, ...options });

  for (const kind of CLIENT_KINDS) {
    describe(`with ${kind.name}`, function () {
      it('introspects one token once for two guards (two replicas) sharing Redis, and Redis holds neither the token nor its digest', async function () {
        const [a, b] = [await connect(kind), await connect(kind)];
        const spied = recorded(store(a));
        const first = await replica(as, { introspectionStore: spied.store });
        const second = await replica(as, { introspectionStore: store(b) });
        const token = as.issueOpaqueToken({ scope: 'read' });

        assert.equal((await first.get(token)).status, 200);
        assert.equal((await second.get(token)).status, 200);
        assert.equal((await second.get(token)).status, 200);
        assert.equal(as.counters.introspection, 1, 'one introspection call for both replicas');
        assert.deepEqual([...first.storeFailures, ...second.storeFailures], []);

        const entries = await dump(a);
        assert.equal(entries.size, 1);
        const forbidden = [token, ...digests(token), ...spied.keys];
        for (const [key, value] of entries) {
          assert.match(key, /^bg:introspection:v1:[\w-]{43}$/);
          for (const secret of forbidden) {
            assert.ok(
              !key.includes(secret) && !value.includes(secret),
              'no token, digest or guard key in Redis',
            );
          }
          assert.doesNotMatch(value, /principal/);
          const json = JSON.parse(value.slice(value.indexOf('{'))) as IntrospectionCacheEntry;
          assert.equal(json.active, true);
        }
      });

      it('falls through to the authorization server while Redis is down, never failing a request, and recovers by itself', async function () {
        this.timeout(40_000);
        const [a, b, c] = [await connect(kind), await connect(kind), await connect(kind)];
        const errors: RedisStoreErrorEvent[] = [];
        const stores = [a, b, c].map((client) => store(client, { onError: (event) => errors.push(event) }));
        const [first, second, third] = await Promise.all(
          stores.map((introspectionStore) => replica(as, { introspectionStore })),
        );
        const token = as.issueOpaqueToken({ scope: 'read' });
        assert.equal((await first!.get(token)).status, 200);
        assert.equal(as.counters.introspection, 1);

        await redis.kill();
        // A replica that has it in memory answers without Redis nor the authorization server.
        assert.equal((await first!.get(token)).status, 200);
        assert.equal(as.counters.introspection, 1);
        // One that has not asks the authorization server: a miss, never a 503 nor a hang.
        assert.equal((await second!.get(token)).status, 200);
        assert.equal(as.counters.introspection, 2);
        assert.ok(second!.storeFailures.some((event) => event.operation === 'get'));
        assert.ok(errors.length > 0);
        for (const { error } of errors) {
          assert.ok(
            [
              'ERR_BEARER_REDIS_TIMEOUT',
              'ERR_BEARER_REDIS_COMMAND_FAILED',
              'ERR_BEARER_REDIS_CIRCUIT_OPEN',
            ].includes(error.code),
            error.code,
          );
        }

        await redis.restart();
        await Promise.all([a, b, c].map(reconnected));
        await until(
          () => stores.every((s) => s.circuitState !== 'open'),
          'the circuits to let a probe through',
        );
        const fresh = as.issueOpaqueToken({ scope: 'read' });
        const callsBefore: number = as.counters.introspection;
        assert.equal((await second!.get(fresh)).status, 200);
        // The write is not awaited by the request: wait until Redis has it.
        await waitForKeys(a, 1);
        assert.equal((await third!.get(fresh)).status, 200);
        assert.equal(as.counters.introspection, callsBefore + 1, 'shared again after the restart');
      });
    });
  }

  async function waitForKeys(client: TestClient, count: number): Promise<void> {
    const deadline = Date.now() + 10_000;
    while ((await dump(client)).size < count) {
      if (Date.now() > deadline) throw new Error(`Redis never held ${String(count)} keys`);
      await sleep(20);
    }
  }

  it('decides authorization after the lookup: a token cached by a guard for scope x is refused by one that needs y', async function () {
    const [a, b] = [await connect(), await connect()];
    const reader = await replica(as, { introspectionStore: store(a), scope: 'read' });
    const writer = await replica(as, { introspectionStore: store(b), scope: 'write' });
    const elsewhere = await replica(as, { introspectionStore: store(b), audience: 'https://other.example' });
    const token = as.issueOpaqueToken({ scope: 'read' });

    assert.equal((await reader.get(token)).status, 200);
    const refused = await writer.get(token);
    assert.equal(refused.status, 403);
    assert.match(refused.challenge ?? '', /error="insufficient_scope"/);
    assert.match(refused.challenge ?? '', /scope="write"/);
    const wrongAudience = await elsewhere.get(token);
    assert.equal(wrongAudience.status, 401);
    assert.match(wrongAudience.challenge ?? '', /error="invalid_token"/);
    assert.equal(as.counters.introspection, 1, 'both refusals came from the shared cache');
  });

  it('a DPoP-bound introspected token from the shared cache still needs its proof, once', async function () {
    const [a, b] = [await connect(), await connect()];
    const replayStore = redisReplayStore({ client: a.client });
    const first = await replica(as, { introspectionStore: store(a), replayStore });
    const second = await replica(as, {
      introspectionStore: store(b),
      replayStore: redisReplayStore({ client: b.client }),
    });
    const key = await generateDpopKey();
    const token = as.issueOpaqueToken({ scope: 'read', ...key.cnf, token_type: 'DPoP' });
    const proof = await createDpopProof(key, { htm: 'GET', htu: HTU, accessToken: token });

    assert.equal((await first.get(token, { dpop: proof })).status, 200);
    const bearer = await second.get(token);
    assert.equal(bearer.status, 401, 'a DPoP-bound token as a bearer token');
    const replayed = await second.get(token, { dpop: proof });
    assert.equal(replayed.status, 401);
    assert.match(replayed.challenge ?? '', /The DPoP proof was already used/);
    const other = await generateDpopKey();
    const wrongKey = await createDpopProof(other, { htm: 'GET', htu: HTU, accessToken: token });
    assert.equal((await second.get(token, { dpop: wrongKey })).status, 401);
    const fresh = await createDpopProof(key, { htm: 'GET', htu: HTU, accessToken: token });
    assert.equal((await second.get(token, { dpop: fresh })).status, 200);
    assert.equal(as.counters.introspection, 1);
  });

  it('keeps entries no longer than the TTL the guard gives (bounded by exp and maxSeconds), in memory no longer than localTtl', async function () {
    const client = await connect();
    const gets: string[][] = [];
    const counting = {
      sendCommand: (args: string[]) => {
        if (args[0] === 'GETRANGE') gets.push(args);
        return client.command(args);
      },
    };
    const shared = redisIntrospectionStore({ client: counting, hmacKey: HMAC_KEY, localTtl: 1500 });
    const guard = await replica(as, { introspectionStore: shared, maxSeconds: 20 });
    const capped = as.issueOpaqueToken({ scope: 'read' }, { expiresIn: 300 });
    const short = as.issueOpaqueToken({ scope: 'read' }, { expiresIn: 5 });
    assert.equal((await guard.get(capped)).status, 200);
    assert.equal((await guard.get(short)).status, 200);
    await waitForKeys(client, 2);
    const ttls: number[] = [];
    for (const key of (await dump(client)).keys()) ttls.push(Number(await client.command(['PTTL', key])));
    ttls.sort((x, y) => x - y);
    assert.ok(ttls[0]! > 0 && ttls[0]! <= 5000, `exp bounds the TTL: ${String(ttls[0])}`);
    assert.ok(ttls[1]! > 5000 && ttls[1]! <= 20_000, `maxSeconds bounds the TTL: ${String(ttls[1])}`);
    assert.equal(shared.localSize, 2);
    const read = gets.length;
    assert.equal((await guard.get(capped)).status, 200);
    assert.equal(gets.length, read, 'a memory hit sends nothing to Redis');
    await sleep(1600);
    // Past localTtl the memory level has forgotten them: the next request reads Redis, not the server.
    assert.equal((await guard.get(capped)).status, 200);
    assert.equal(gets.length, read + 1);
    assert.equal(as.counters.introspection, 2);
  });

  it('keeps an entry in memory no longer than the TTL it was given, even under a longer localTtl', async function () {
    const client = await connect();
    const shared = store(client, { localTtl: 60_000 });
    await shared.set('k', { active: false, context: 'ctx' }, 400);
    assert.ok(!(shared.get('k') instanceof Promise));
    await sleep(450);
    const after = shared.get('k');
    assert.ok(after instanceof Promise, 'gone from memory');
    assert.equal(await after, undefined, 'and from Redis (PX)');
  });

  it('refuses an entry past the expiry written in it, even when Redis kept it longer (a late or replayed write)', async function () {
    const client = await connect();
    const shared = store(client, { localTtl: 0 });
    await shared.set('k', { active: false, context: 'ctx' }, 400);
    const [[name, value]] = [...(await dump(client))] as [[string, string]];
    await sleep(450);
    await client.command(['SET', name, value, 'PX', '60000']);
    assert.equal(await shared.get('k'), undefined);
  });

  it('answers a memory hit synchronously, and reads Redis only on a miss', async function () {
    const client = await connect();
    const shared = store(client);
    const entry: IntrospectionCacheEntry = {
      active: true,
      context: 'ctx',
      claims: { active: true, scope: 'read' },
    };
    await shared.set('k', entry, 10_000);
    const hit = shared.get('k');
    assert.ok(!(hit instanceof Promise), 'a memory hit is no promise');
    assert.deepEqual(hit, entry);
    const other = store(client);
    const miss = other.get('k');
    assert.ok(miss instanceof Promise);
    assert.deepEqual(await miss, entry);
    assert.ok(!(other.get('k') instanceof Promise), 'kept in memory after a Redis hit');
    assert.equal(await store(client).get('absent'), undefined);
  });

  it('delete() forgets the entry in memory and in Redis', async function () {
    const client = await connect();
    const shared = store(client);
    await shared.set('k', { active: false, context: 'ctx' }, 10_000);
    assert.equal((await dump(client)).size, 1);
    await shared.delete('k');
    assert.equal(shared.localSize, 0);
    assert.equal((await dump(client)).size, 0);
    assert.equal(await shared.get('k'), undefined);
  });

  it('never trusts Redis: a corrupt, altered, moved or foreign value is a miss (store.failed), and the server answers', async function () {
    const client = await connect();
    const guard = await replica(as, { introspectionStore: store(client, { localTtl: 0 }) });
    const other = await replica(as, {
      introspectionStore: store(client, { localTtl: 0, hmacKey: 'another-hmac-key-of-32-bytes-or-more!!' }),
    });
    const token = as.issueOpaqueToken({ scope: 'read' });
    const second = as.issueOpaqueToken({ scope: 'read' });
    assert.equal((await guard.get(token)).status, 200);
    await waitForKeys(client, 1);
    const [[keyA, valueA]] = [...(await dump(client))] as [[string, string]];
    assert.equal((await guard.get(second)).status, 200);
    await waitForKeys(client, 2);
    const keyB = [...(await dump(client)).keys()].find((key) => key !== keyA)!;

    // Another hmacKey: other keys, so the other deployment neither reads nor clobbers ours.
    assert.equal((await other.get(token)).status, 200);
    assert.equal(as.counters.introspection, 3);
    await waitForKeys(client, 3);

    const attempts = [
      valueA.replace('"scope":"read"', '"scope":"read write admin"'), // an altered scope
      'not json at all',
      '{"active":true}',
    ];
    let calls = as.counters.introspection;
    for (const forged of attempts) {
      await client.command(['SET', keyA, forged, 'PX', '60000']);
      const failures = guard.storeFailures.length;
      assert.equal((await guard.get(token)).status, 200);
      assert.equal(as.counters.introspection, (calls += 1), 'a miss: the server was asked');
      assert.equal(guard.storeFailures.length, failures + 1);
      assert.match(
        (guard.storeFailures.at(-1)!.error as Error).message,
        /not written by a store with this hmacKey/,
      );
    }
    // One token's (valid) value under another token's key.
    await client.command(['SET', keyB, valueA, 'PX', '60000']);
    assert.equal((await guard.get(second)).status, 200);
    assert.equal(as.counters.introspection, calls + 1);
  });

  it('answers within its deadline when Redis is paused (CLIENT PAUSE): the request goes to the server', async function () {
    const [a, admin] = [await connect(), await connect()];
    const errors: RedisStoreErrorEvent[] = [];
    const guard = await replica(as, {
      introspectionStore: store(a, { timeout: 100, onError: (event) => errors.push(event) }),
    });
    await admin.command(['CLIENT', 'PAUSE', '1500', 'ALL']);
    try {
      const token = as.issueOpaqueToken({ scope: 'read' });
      assert.equal((await guard.get(token)).status, 200);
      assert.equal(as.counters.introspection, 1);
      assert.equal(guard.storeFailures[0]?.operation, 'get');
      assert.equal(errors[0]?.error.code, 'ERR_BEARER_REDIS_TIMEOUT');
    } finally {
      await sleep(1600); // the pause ends by itself
    }
  });
});
