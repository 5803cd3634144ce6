// The fleet with REDIS_URL on a real redis-server: two replicas of each backend behind the gateway,
// and every store they share in Redis (introspection cache, DPoP replay, rate limits, the
// authorization server's grants). One fleet for the whole block.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { createTokenClient, type TokenClient } from '@bearer-guard/client';
import {
  answerShared,
  AUDIENCES,
  cachedAnswers,
  DEV_SECRETS,
  freePorts,
  freeReplicaPorts,
  startFleet,
  type Fleet,
  type InstanceName,
} from '@bearer-guard/example-fleet';
import { closeRedis, connectRedis } from '@bearer-guard/example-shared';
import { createDpopProof, generateDpopKey } from '@bearer-guard/testkit';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const GATEWAY_BASIC = `Basic ${Buffer.from(`gateway:${DEV_SECRETS.GATEWAY_CLIENT_SECRET}`).toString('base64')}`;
/** The orders replicas' limit in this fleet: low enough to reach, high enough for the other tests. */
const ORDERS_LIMIT = 40;

const get = async (url: string, token?: string, headers: Record<string, string> = {}): Promise<Response> => {
  const response = await fetch(url, {
    headers: token === undefined ? headers : { authorization: `Bearer ${token}`, ...headers },
    signal: AbortSignal.timeout(10_000),
  });
  await response.arrayBuffer();
  return response;
};

describe('the example fleet with REDIS_URL: two replicas of each backend, shared stores', function () {
  this.timeout(120_000);
  let redis: RedisServer;
  let fleet: Fleet;
  let dataDir: string;
  let demo: TokenClient;
  const lines: { service: InstanceName; line: string }[] = [];

  /** How many requests to `route` an instance logged (one JSON line per request). */
  const logged = (service: InstanceName, route: string): number =>
    lines.filter(
      (entry) =>
        entry.service === service &&
        entry.line.startsWith('{') &&
        (JSON.parse(entry.line) as { route?: string }).route === route,
    ).length;

  /** The authorization server's count of requests to one of its endpoints (its `/metrics`). */
  const asRequests = async (endpoint: 'introspection' | 'token' | 'revocation'): Promise<number> => {
    const text = await (await fetch(`${fleet.urls['authorization-server']}/metrics`)).text();
    const match = new RegExp(
      `^authorization_server_requests_total\\{endpoint="${endpoint}"\\} (\\d+)$`,
      'm',
    ).exec(text);
    assert.ok(match?.[1] !== undefined, text);
    return Number(match[1]);
  };

  const fhirToken = async (): Promise<string> => {
    const client = createTokenClient({
      issuer: fleet.issuer,
      clientId: 'gateway',
      clientSecret: DEV_SECRETS.GATEWAY_CLIENT_SECRET,
    });
    return (
      await client.getToken({ scope: 'system/Patient.rs system/Observation.rs', resource: AUDIENCES.fhir })
    ).access_token;
  };

  before(async () => {
    redis = await startRedisServer();
    dataDir = mkdtempSync(join(tmpdir(), 'bearer-guard-fleet-redis-'));
    fleet = await startFleet({
      ports: await freePorts(),
      replicaPorts: await freeReplicaPorts(),
      env: {
        AS_DATA_DIR: dataDir,
        FHIR_INTROSPECTION_CACHE_SECONDS: '2',
        NODE_ENV: 'test',
        REDIS_URL: redis.url,
      },
      serviceEnv: { 'orders-service': { RATE_LIMIT_PER_MINUTE: String(ORDERS_LIMIT) } },
      log: (service, line) => {
        lines.push({ service, line });
      },
    });
    demo = createTokenClient({
      issuer: fleet.issuer,
      clientId: 'demo-client',
      clientSecret: DEV_SECRETS.DEMO_CLIENT_SECRET,
    });
  });
  after(async () => {
    await fleet.stop();
    await redis.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs two replicas of each backend, and the gateway takes them in turn', async () => {
    assert.deepEqual(
      fleet.instances.map((instance) => instance.name),
      [
        'authorization-server',
        'orders-service',
        'orders-service-2',
        'fhir-service',
        'fhir-service-2',
        'gateway',
      ],
    );
    for (const backend of ['orders-service', 'fhir-service'] as const) {
      assert.equal(fleet.replicas[backend].length, 2);
      for (const url of fleet.replicas[backend]) assert.equal((await get(`${url}/health`)).status, 200, url);
    }
    const before = (['orders-service', 'orders-service-2', 'fhir-service', 'fhir-service-2'] as const).map(
      (name) =>
        logged(name, name.startsWith('orders') ? '/orders' : '/Observation') + logged(name, '/Patient/:id'),
    );
    const token = (await demo.getToken({ scope: 'summary:read', resource: AUDIENCES.gateway })).access_token;
    for (let i = 0; i < 2; i += 1) {
      assert.equal((await get(`${fleet.urls.gateway}/patients/123/summary`, token)).status, 200);
    }
    // Request log lines are written when each answer is sent: wait for them.
    const after = (): number[] =>
      (['orders-service', 'orders-service-2', 'fhir-service', 'fhir-service-2'] as const).map(
        (name, index) =>
          logged(name, name.startsWith('orders') ? '/orders' : '/Observation') +
          logged(name, '/Patient/:id') -
          (before[index] ?? 0),
      );
    const total = (): number => after().reduce((sum, count) => sum + count, 0);
    for (let waited = 0; waited < 5000 && total() < 6; waited += 50) await sleep(50);
    // Two summaries: one orders call each (one per orders replica), two FHIR calls each (Patient
    // and Observation, one per FHIR replica, twice).
    assert.deepEqual(after(), [1, 1, 2, 2]);
  });

  it('refuses at orders replica 2 a DPoP proof accepted by replica 1 (one replay store in Redis)', async () => {
    const key = await generateDpopKey();
    const publicKey = await crypto.subtle.importKey(
      'jwk',
      key.publicJwk,
      { name: 'ECDSA', namedCurve: 'P-256' },
      true,
      ['verify'],
    );
    const client = createTokenClient({
      issuer: fleet.issuer,
      clientId: 'gateway',
      clientSecret: DEV_SECRETS.GATEWAY_CLIENT_SECRET,
      scope: 'orders:read',
      resource: AUDIENCES.orders,
      dpop: { privateKey: key.privateKey, publicKey },
    });
    const [first, second] = fleet.replicas['orders-service'];
    const path = '/orders?patient=123';
    const warmup = await client.fetch(`${String(first)}${path}`);
    await warmup.arrayBuffer();
    assert.equal(warmup.status, 200);
    const { access_token: token } = await client.getToken();
    const proof = async (): Promise<string> =>
      createDpopProof(key, {
        htm: 'GET',
        // The service's one URL (ORDERS_PUBLIC_URL of both replicas): the first replica's address.
        htu: `${String(first)}${path}`,
        accessToken: token,
        nonce: warmup.headers.get('dpop-nonce') ?? undefined,
      });
    const send = (base: string, dpop: string) =>
      get(`${base}${path}`, undefined, { authorization: `DPoP ${token}`, dpop });
    // A fresh proof is accepted by either replica: the URL, the key and the nonce hold at both.
    assert.equal((await send(String(second), await proof())).status, 200, 'a fresh proof at replica 2');
    const once = await proof();
    assert.equal((await send(String(first), once)).status, 200, 'accepted by replica 1');
    const replayed = await send(String(second), once);
    assert.equal(replayed.status, 401, 'replayed to replica 2');
    assert.match(
      String(replayed.headers.get('www-authenticate')),
      /error="invalid_dpop_proof", error_description="The DPoP proof was already used\."/,
    );
  });

  it('introspects one opaque token once, whichever replica it reaches (the cache is shared in Redis)', async () => {
    const token = await fhirToken();
    const [first, second] = fleet.replicas['fhir-service'];
    const before = await asRequests('introspection');
    const redisClient = await connectRedis(redis.url);
    try {
      const known = await cachedAnswers(redisClient);
      assert.equal((await get(`${String(first)}/Observation?patient=123`, token)).status, 200);
      // The first replica writes its answer to Redis as it answers: wait for it to land.
      await answerShared(redisClient, known);
      assert.equal(await cachedAnswers(redisClient), known + 1, 'one answer in Redis');
    } finally {
      await closeRedis(redisClient);
    }
    assert.equal((await get(`${String(second)}/Observation?patient=123`, token)).status, 200);
    assert.equal((await get(`${String(first)}/Patient/123`, token)).status, 200);
    assert.equal(
      await asRequests('introspection'),
      before + 1,
      'one introspection call at the authorization server',
    );
  });

  it('refuses a revoked token at both replicas once the cache bound (2 s here) has passed', async () => {
    const token = await fhirToken();
    const replicas = fleet.replicas['fhir-service'];
    for (const url of replicas)
      assert.equal((await get(`${url}/Observation?patient=123`, token)).status, 200, url);
    const revoked = await fetch(`${fleet.issuer}/token/revocation`, {
      method: 'POST',
      headers: { authorization: GATEWAY_BASIC, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    });
    assert.equal(revoked.status, 200);
    await sleep(2200);
    for (const url of replicas) {
      const response = await get(`${url}/Observation?patient=123`, token);
      assert.equal(response.status, 401, url);
      assert.match(String(response.headers.get('www-authenticate')), /error="invalid_token"/);
    }
  });

  it("keeps the authorization server's grants across its restart (its adapter is on Redis)", async () => {
    const token = await fhirToken();
    await fleet.restartService('authorization-server');
    // Past the cache bound: the replica has to ask the restarted authorization server, which finds
    // the token in Redis (an in-memory adapter would have forgotten it: 401).
    await sleep(2200);
    const before = await asRequests('introspection');
    const [first] = fleet.replicas['fhir-service'];
    assert.equal((await get(`${String(first)}/Observation?patient=123`, token)).status, 200);
    assert.equal(await asRequests('introspection'), before + 1, 'asked the restarted authorization server');
    // And the gateway's cached tokens keep working too.
    const summary = (await demo.getToken({ scope: 'summary:read', resource: AUDIENCES.gateway }))
      .access_token;
    assert.equal((await get(`${fleet.urls.gateway}/patients/123/summary`, summary)).status, 200);
  });

  it('npm run demo: shows the replica steps (one introspection for two replicas, the revocation at both)', async () => {
    const inherited = { ...process.env };
    delete inherited['NODE_OPTIONS']; // mocha's tsx loader: the scripts run from dist/
    const [, orders2] = fleet.replicas['orders-service'];
    const [, fhir2] = fleet.replicas['fhir-service'];
    const run = promisify(execFile)('npm', ['run', '--silent', 'demo'], {
      cwd: ROOT,
      env: {
        ...inherited,
        AS_PORT: String(fleet.ports['authorization-server']),
        GATEWAY_PORT: String(fleet.ports.gateway),
        ORDERS_PORT: String(fleet.ports['orders-service']),
        FHIR_PORT: String(fleet.ports['fhir-service']),
        ORDERS_REPLICA_PORT: new URL(String(orders2)).port,
        FHIR_REPLICA_PORT: new URL(String(fhir2)).port,
        FHIR_INTROSPECTION_CACHE_SECONDS: '2',
        REDIS_URL: redis.url,
      },
      timeout: 60_000,
    });
    const { stdout, stderr } = await run.catch((error: unknown) => {
      const { stdout: out, stderr: err } = error as { stdout?: string; stderr?: string };
      throw new Error(`npm run demo failed:\n${String(out)}\n${String(err)}`, { cause: error });
    });
    assert.equal(stderr, '');
    assert.match(stdout, /\(the same proof\) -> 401\nWWW-Authenticate: DPoP error="invalid_dpop_proof"/);
    assert.match(stdout, /introspection requests at the authorization server: 1 \(one for both replicas\)/);
    assert.match(stdout, /revoked .* -> 401 at FHIR service 1, 401 at FHIR service 2/);
  });

  it('counts the rate limit once across the replicas (rate-limit-redis)', async () => {
    const [first, second] = fleet.replicas['orders-service'];
    const remaining = async (url: string): Promise<{ status: number; left: number; reset: number }> => {
      const response = await get(`${url}/orders?patient=123`);
      const header = String(response.headers.get('ratelimit'));
      const match = /;\s*r=(\d+);\s*t=(\d+)/.exec(header);
      assert.ok(match !== null, header);
      return { status: response.status, left: Number(match[1]), reset: Number(match[2]) };
    };
    let one = await remaining(String(first));
    if (one.reset < 5) {
      // Too close to the end of the window: wait for the next one, so both counts fall in one.
      await sleep((one.reset + 1) * 1000);
      one = await remaining(String(first));
    }
    const two = await remaining(String(second));
    assert.equal(two.left, one.left - 1, 'the second replica counted the first replica’s request');
    // Spend the rest of the limit at the second replica: then the first refuses too.
    let last = two;
    for (let i = 0; i <= ORDERS_LIMIT && last.status !== 429; i += 1) last = await remaining(String(second));
    assert.equal(last.status, 429);
    assert.equal(
      (await get(`${String(first)}/orders?patient=123`)).status,
      429,
      'the first replica refuses too',
    );
  });
});
