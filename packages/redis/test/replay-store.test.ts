import assert from 'node:assert/strict';

import { redisIntrospectionStore, redisReplayStore, RedisStoreError } from '@bearer-guard/redis';
import type { RedisReplayStoreOptions, RedisStoreErrorEvent } from '@bearer-guard/redis';
import { createDpopProof, generateDpopKey, startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub, DpopKey } from '@bearer-guard/testkit';

import { startChildReplica } from './support/child-replica.js';
import { CLIENT_KINDS, dump, NODE_REDIS_6, reconnected, type TestClient } from './support/clients.js';
import { HMAC_KEY, HTU, sleep, startReplica, until, type Replica } from './support/guards.js';
import { startRedisServer, type RedisServer } from './support/redis-server.js';

const REPLAYED = /error="invalid_dpop_proof", error_description="The DPoP proof was already used."/;

/** Send `count` requests with one proof, spread over `urls`, all at once; the statuses. */
async function race(urls: string[], token: string, proof: string, count: number): Promise<number[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, index) => {
      const response = await fetch(`${urls[index % urls.length]!}/orders`, {
        headers: { authorization: `DPoP ${token}`, dpop: proof },
        signal: AbortSignal.timeout(15_000),
      });
      await response.arrayBuffer();
      return response.status;
    }),
  );
}

const tally = (statuses: number[]): Record<number, number> => {
  const counts: Record<number, number> = {};
  for (const status of statuses) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
};

describe('@bearer-guard/redis: redisReplayStore', function () {
  let as: AuthorizationServerStub;
  let redis: RedisServer;
  let key: DpopKey;
  const replicas: Replica[] = [];
  const clients: TestClient[] = [];

  before(async function () {
    as = await startAuthorizationServer();
    redis = await startRedisServer();
    key = await generateDpopKey();
  });

  after(async function () {
    await (as as AuthorizationServerStub | undefined)?.close();
    await (redis as RedisServer | undefined)?.stop(); // undefined when redis-server could not start
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

  async function replica(
    client: TestClient,
    options: Partial<RedisReplayStoreOptions> = {},
  ): Promise<Replica> {
    const started = await startReplica(as, {
      replayStore: redisReplayStore({ client: client.client, ...options }),
    });
    replicas.push(started);
    return started;
  }

  async function tokenAndProof(): Promise<{ token: string; proof: string }> {
    const token = await as.sign({ ...key.cnf, scope: 'read' });
    return { token, proof: await createDpopProof(key, { htm: 'GET', htu: HTU, accessToken: token }) };
  }

  for (const kind of CLIENT_KINDS) {
    it(`accepts exactly one of 100 concurrent uses of one proof across two replicas (${kind.name})`, async function () {
      const [a, b] = [await replica(await connect(kind)), await replica(await connect(kind))];
      const { token, proof } = await tokenAndProof();
      const statuses = await race([a.url, b.url], token, proof, 100);
      assert.deepEqual(tally(statuses), { 200: 1, 401: 99 });
      const replayed = await b.get(token, { dpop: proof });
      assert.equal(replayed.status, 401);
      assert.match(replayed.challenge ?? '', REPLAYED);
    });
  }

  it('accepts exactly one of 100 concurrent uses of one proof across two processes, and shares introspection with them', async function () {
    this.timeout(40_000);
    const client = await connect();
    const child = await startChildReplica(as, redis.url);
    try {
      const local = await startReplica(as, {
        replayStore: redisReplayStore({ client: client.client }),
        introspectionStore: redisIntrospectionStore({
          client: client.client,
          hmacKey: HMAC_KEY,
        }),
      });
      replicas.push(local);
      const { token, proof } = await tokenAndProof();
      assert.deepEqual(tally(await race([local.url, child.url], token, proof, 100)), { 200: 1, 401: 99 });

      as.resetCounters();
      const opaque = as.issueOpaqueToken({ scope: 'read' });
      assert.equal((await local.get(opaque)).status, 200);
      // The write is not awaited by the request: wait until Redis has it (and the proof's key).
      for (let i = 0; i < 500 && (await dump(client)).size < 2; i++) await sleep(20);
      const response = await fetch(`${child.url}/orders`, { headers: { authorization: `Bearer ${opaque}` } });
      assert.equal(response.status, 200);
      assert.equal(as.counters.introspection, 1, 'the other process read the cache');
    } finally {
      await child.stop();
    }
  });

  it('keeps each proof in Redis under the prefix, for the rest of its acceptance window only', async function () {
    const client = await connect();
    await client.command(['FLUSHALL']);
    const guard = await replica(client, { keyPrefix: 'api:' });
    const { token, proof } = await tokenAndProof();
    assert.equal((await guard.get(token, { dpop: proof })).status, 200);
    const entries = await dump(client);
    assert.equal(entries.size, 1);
    const [[name, value]] = [...entries] as [[string, string]];
    assert.match(name, /^api:bg:dpop:v1:[\w-]{43}$/);
    assert.equal(value, '1');
    const ttl = Number(await client.command(['PTTL', name]));
    assert.ok(ttl > 0 && ttl <= 400_000, String(ttl));
    assert.ok(!name.includes(token));
  });

  it('answers 503 while Redis is down (the default), and accepts proofs again once it is back', async function () {
    this.timeout(30_000);
    const client = await connect();
    const errors: RedisStoreErrorEvent[] = [];
    const guard = await replica(client, {
      onError: (event) => errors.push(event),
      breaker: { cooldown: 50 },
    });
    await redis.kill();
    try {
      for (let i = 0; i < 5; i++) {
        const { token, proof } = await tokenAndProof();
        const refused = await guard.get(token, { dpop: proof });
        assert.equal(refused.status, 503, 'never accepted unrecorded');
      }
      assert.equal(errors.length, 5);
      assert.ok(errors.every((event) => event.store === 'dpop-replay' && !event.fallback));
      assert.ok(
        errors.some((event) => event.error.code === 'ERR_BEARER_REDIS_CIRCUIT_OPEN'),
        'the breaker opened',
      );
    } finally {
      await redis.restart();
    }
    await reconnected(client);
    await sleep(60); // the breaker's cooldown
    const { token, proof } = await tokenAndProof();
    assert.equal((await guard.get(token, { dpop: proof })).status, 200);
    assert.equal((await guard.get(token, { dpop: proof })).status, 401);
  });

  it("with onUnavailable: 'local', checks replays in this replica's memory while Redis is down, and says so", async function () {
    this.timeout(30_000);
    const client = await connect();
    const errors: RedisStoreErrorEvent[] = [];
    const guard = await replica(client, {
      onUnavailable: 'local',
      onError: (event) => errors.push(event),
      timeout: 100,
    });
    const other = await replica(client, { onUnavailable: 'local', timeout: 100 });
    const { token, proof } = await tokenAndProof();
    const duringOutage = await tokenAndProof();
    await redis.kill();
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      assert.equal((await guard.get(duringOutage.token, { dpop: duringOutage.proof })).status, 200);
      const replayed = await guard.get(duringOutage.token, { dpop: duringOutage.proof });
      assert.equal(replayed.status, 401, 'a replay to the same replica is still refused');
      assert.match(replayed.challenge ?? '', REPLAYED);
      // The weakness it accepts: another replica does not know the proof.
      assert.equal((await other.get(duringOutage.token, { dpop: duringOutage.proof })).status, 200);
      assert.ok(errors.length >= 2 && errors.every((event) => event.fallback));
      await until(() => warnings.length > 0, 'the process warning of the store without onError');
      assert.equal((warnings[0] as Error & { code?: string }).code, 'BEARER_GUARD_REDIS_FALLBACK');
      assert.equal(warnings.length, 1, 'once per outage');
    } finally {
      process.off('warning', onWarning);
      await redis.restart();
    }
    await reconnected(client);
    // Back on Redis: the proof accepted during the outage is still refused here, a new one is accepted once.
    await sleep(1100); // the default breaker cooldown
    assert.equal((await guard.get(duringOutage.token, { dpop: duringOutage.proof })).status, 401);
    assert.equal((await guard.get(token, { dpop: proof })).status, 200);
    assert.equal((await other.get(token, { dpop: proof })).status, 401);
  });

  it('answers 503 within its deadline when Redis is paused (CLIENT PAUSE)', async function () {
    const [client, admin] = [await connect(), await connect()];
    const errors: RedisStoreErrorEvent[] = [];
    const guard = await replica(client, { timeout: 100, onError: (event) => errors.push(event) });
    const { token, proof } = await tokenAndProof();
    await admin.command(['CLIENT', 'PAUSE', '1500', 'ALL']);
    try {
      assert.equal((await guard.get(token, { dpop: proof })).status, 503);
      assert.equal(errors[0]?.error.code, 'ERR_BEARER_REDIS_TIMEOUT');
      assert.ok(errors[0].error instanceof RedisStoreError);
    } finally {
      await sleep(1600);
    }
  });

  it('refuses wrong options at construction', async function () {
    const client = await connect();
    assert.throws(
      () => redisReplayStore({ client: client.client, onUnavailable: 'open' as 'fail' }),
      /`redisReplayStore.onUnavailable` must be `'fail'` or `'local'`; received "open"/,
    );
    assert.throws(
      () => redisReplayStore({ client: client.client, hmacKey: HMAC_KEY } as RedisReplayStoreOptions),
      /`redisReplayStore.hmacKey` is not an option/,
    );
    assert.throws(() => redisReplayStore({ client: client.client, localMax: 0 }), /localMax/);
  });
});
