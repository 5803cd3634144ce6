// The shared introspection cache across replicas: how many introspection calls does the
// authorization server get for one opaque token sent to 1, 2 and 4 replicas? It must stay 1.
// Run by run.mjs after the rounds (not a speed measurement: nothing here is timed).
//
// Each replica is a real server process (server.mjs `introspection-replica`, pinned to core 0 like
// the measured servers): bearer-guard with @bearer-guard/redis's introspection store at its
// defaults (an in-memory level of 5 s in front of Redis), its own node-redis client, all of them
// on the one redis-server of the run and on one stub introspection endpoint in this process, which
// counts the calls per token. For each N, with Redis flushed, a fresh opaque token (random, not a
// JWT) goes:
//   1. to replica 1 alone (its first sighting anywhere: the one call);
//   2. to every replica at once, 20 concurrent requests each (the others meet it in Redis only);
//   3. to every replica in turn, three times (in memory by now);
//   4. after the in-memory level expired (5.5 s), to every replica at once again, 20 each (Redis
//      again), then once more in turn.
// Every answer must be 200 and the endpoint must have been called once for that token.
//
// For information only (not a pass/fail check): a second fresh token sent to every replica at the
// same instant, before any of them has seen it. The store has no lock across replicas, so each
// replica that misses Redis before the first answer is written calls the endpoint; within one
// replica, a GET sent before that answer was written can come back a miss after its call ended
// (the call no longer in flight to join), and call again.

import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { BENCH_DIR, request, sleep, startChild, stopChild } from './harness.mjs';
import { startIntrospectionServer } from './introspection-stub.mjs';
import { AUDIENCE, ISSUER } from './tokens.mjs';

export const REPLICA_COUNTS = [1, 2, 4];
const BURST = 20;
/** The Redis store's default `localTtl` (ms), which the replicas keep. */
const LOCAL_TTL_MS = 5000;

/** GET /hello with `token` on `port`: the status. */
async function call(port, token) {
  const response = await fetch(`http://127.0.0.1:${port}/hello`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(10_000),
  });
  await response.arrayBuffer();
  return response.status;
}

/**
 * Count the introspection calls for one token across each number of replicas.
 * @param {{ jwks: object, redis: { url: string, flush(): Promise<void> }, pinning: { pinned: boolean },
 *   niceness?: number, log?: (line: string) => void }} options
 */
export async function measureReplicas({ jwks, redis, pinning, niceness, log = console.log }) {
  const opaque = new Map();
  const mint = () => {
    const token = randomBytes(32).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    opaque.set(token, {
      iss: ISSUER,
      aud: AUDIENCE,
      sub: 'bench-user',
      client_id: 'bench-client',
      scope: 'read',
      iat: now,
      exp: now + 3600,
    });
    return token;
  };
  const stub = await startIntrospectionServer(jwks, { opaque });
  const results = [];
  try {
    for (const n of REPLICA_COUNTS) {
      await redis.flush();
      const replicas = [];
      try {
        for (let i = 0; i < n; i++) {
          replicas.push(
            await startChild({
              script: path.join(BENCH_DIR, 'server.mjs'),
              args: ['introspection-replica'],
              core: 0,
              pinned: pinning.pinned,
              niceness,
              env: {
                BENCH_JWKS: JSON.stringify(jwks),
                BENCH_REDIS_URL: redis.url,
                BENCH_INTROSPECTION_ENDPOINT: stub.url,
                NODE_ENV: 'production',
              },
              name: `replica ${i + 1}/${n}`,
            }),
          );
        }
        const statuses = [];
        const inTurn = async (token) => {
          for (const { port } of replicas) statuses.push(await call(port, token));
        };
        const atOnce = async (token) => {
          const all = replicas.flatMap(({ port }) => Array.from({ length: BURST }, () => call(port, token)));
          statuses.push(...(await Promise.all(all)));
        };
        const token = mint();
        statuses.push(await call(replicas[0].port, token));
        await atOnce(token);
        for (let pass = 0; pass < 3; pass++) await inTurn(token);
        await sleep(LOCAL_TTL_MS + 500);
        await atOnce(token);
        await inTurn(token);
        const calls = stub.counts.perToken.get(token) ?? 0;

        // Information: a token every replica meets for the first time at the same instant.
        const racing = mint();
        const raceStatuses = await Promise.all(
          replicas.flatMap(({ port }) => Array.from({ length: BURST }, () => call(port, racing))),
        );
        const raceCalls = stub.counts.perToken.get(racing) ?? 0;

        const stats = await Promise.all(
          replicas.map(({ child }) => request(child, { type: 'stats' }, 'stats')),
        );
        const redisErrors = stats.reduce((sum, s) => sum + s.redisErrors.store, 0);
        const non200 = [...statuses, ...raceStatuses].filter((status) => status !== 200).length;
        const result = {
          replicas: n,
          requests: statuses.length,
          calls,
          non200,
          redisErrors,
          pass: calls === 1 && non200 === 0 && redisErrors === 0,
          simultaneousFirstSighting: { requests: raceStatuses.length, calls: raceCalls },
        };
        results.push(result);
        log(
          `  ${n} replica(s): ${result.requests} requests for one token, ${calls} introspection call(s)` +
            (result.pass
              ? ' (OK)'
              : ` <- MUST BE 1 (non-200 answers ${non200}, Redis errors ${redisErrors})`) +
            `; info: a token first met by all at once: ${raceCalls} call(s)`,
        );
      } finally {
        for (const { child } of replicas) await stopChild(child);
      }
    }
  } finally {
    await stub.close();
  }
  return { perCount: results, refused: stub.counts.refused, pass: results.every((r) => r.pass) };
}
