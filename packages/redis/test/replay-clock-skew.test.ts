import assert from 'node:assert/strict';

import { redisReplayStore } from '@bearer-guard/redis';
import { createDpopProof, generateDpopKey, startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub } from '@bearer-guard/testkit';

import { dump, NODE_REDIS_6, type TestClient } from './support/clients.js';
import { HTU, sleep, startReplica, type Replica } from './support/guards.js';
import { startRedisServer, type RedisServer } from './support/redis-server.js';

const IAT_WINDOW = 300; // the guard's default `dpop.iatWindow`

/** Run `send` with this process's clock `offsetMs` behind: a replica whose clock lags the others'. */
async function withClockBehind<T>(offsetMs: number, send: () => Promise<T>): Promise<T> {
  const now = Date.now.bind(Date);
  Date.now = () => now() - offsetMs;
  try {
    return await send();
  } finally {
    Date.now = now;
  }
}

describe('@bearer-guard/redis: replay across replicas whose clocks differ (within clockTolerance)', function () {
  let as: AuthorizationServerStub;
  let redis: RedisServer;
  const clients: TestClient[] = [];
  const replicas: Replica[] = [];

  before(async function () {
    as = await startAuthorizationServer();
    redis = await startRedisServer();
  });

  after(async function () {
    await Promise.all(replicas.splice(0).map((replica) => replica.close()));
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await (as as AuthorizationServerStub | undefined)?.close();
    await (redis as RedisServer | undefined)?.stop();
  });

  it('a proof accepted near the end of its window by one replica is still refused by a replica 4 s behind', async function () {
    this.timeout(20_000);
    const [a, b] = [await NODE_REDIS_6.connect(redis.url), await NODE_REDIS_6.connect(redis.url)];
    clients.push(a, b);
    const ahead = await startReplica(as, { replayStore: redisReplayStore({ client: a.client }) });
    const behind = await startReplica(as, { replayStore: redisReplayStore({ client: b.client }) });
    replicas.push(ahead, behind);
    const key = await generateDpopKey();
    const token = await as.sign({ ...key.cnf, scope: 'read' });
    // One to two seconds of its window left on the first replica's clock.
    const iat = Math.floor(Date.now() / 1000) - IAT_WINDOW + 2;
    const proof = await createDpopProof(key, { htm: 'GET', htu: HTU, accessToken: token, iat });

    assert.equal((await ahead.get(token, { dpop: proof })).status, 200);
    // Wait out the first replica's view of the window (no timed assertion: only a wait).
    await sleep(2500);
    // The second replica's clock is 4 s behind (less than the default clockTolerance of 5 s): for it
    // the proof is still inside its window, so Redis must still remember it.
    const replayed = await withClockBehind(4000, () => behind.get(token, { dpop: proof }));
    assert.equal(replayed.status, 401, 'the replay is refused');
    assert.ok((await dump(a)).size <= 1);
  });
});
