// The orders service with REDIS_URL on a real redis-server: two instances share one DPoP replay
// store and one rate limit; when Redis stops answering, a request with a proof is refused (503)
// rather than accepted unrecorded, and the rate limit does not turn every request into a 500.
import assert from 'node:assert/strict';
import {
  createDpopProof,
  generateDpopKey,
  startAuthorizationServer,
  type AuthorizationServerStub,
  type DpopKey,
} from '@bearer-guard/testkit';
import { loadOrdersConfig, start, type RunningOrdersService } from '@bearer-guard/example-orders-service';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

const AUDIENCE = 'https://orders.fleet.example';
/** Both instances are one service at one URL (ORDERS_PUBLIC_URL), as behind a load balancer. */
const PUBLIC_URL = 'https://orders.test.example';

describe('examples/orders-service with REDIS_URL (two instances, one Redis)', function () {
  this.timeout(30_000);
  let redis: RedisServer;
  let as: AuthorizationServerStub;
  let key: DpopKey;
  const services: RunningOrdersService[] = [];

  before(async () => {
    redis = await startRedisServer();
    as = await startAuthorizationServer({ audience: AUDIENCE, algorithms: ['ES256'] });
    key = await generateDpopKey();
    for (let i = 0; i < 2; i += 1) {
      services.push(
        await start(
          loadOrdersConfig({
            AS_ISSUER: as.issuer,
            ORDERS_PORT: '0',
            ORDERS_PUBLIC_URL: PUBLIC_URL,
            REDIS_URL: redis.url,
          }),
        ),
      );
    }
  });
  after(async () => {
    await Promise.all(services.map((service) => service.close()));
    await as.close();
    await redis.stop();
  });

  /** GET /orders at `service` with `token` and a proof (a new one unless `proof` is given). */
  async function call(service: RunningOrdersService, token: string, nonce?: string, proof?: string) {
    const dpop =
      proof ??
      (await createDpopProof(key, { htm: 'GET', htu: `${PUBLIC_URL}/orders`, accessToken: token, nonce }));
    const response = await fetch(`${service.url}/orders`, {
      headers: { authorization: `DPoP ${token}`, dpop },
      signal: AbortSignal.timeout(10_000),
    });
    await response.arrayBuffer();
    return { response, dpop };
  }

  it('refuses at one instance a proof the other accepted, and counts the rate limit once for both', async () => {
    const [one, two] = services;
    assert.ok(one !== undefined && two !== undefined);
    const token = await as.sign({ scope: 'orders:read', ...key.cnf });
    const { response: first } = await call(one, token);
    assert.equal(first.status, 401, 'the nonce round (RFC 9449 §9)');
    const nonce = String(first.headers.get('dpop-nonce'));
    const { response: accepted, dpop } = await call(one, token, nonce);
    assert.equal(accepted.status, 200);
    const replayed = (await call(two, token, nonce, dpop)).response;
    assert.equal(replayed.status, 401);
    assert.match(String(replayed.headers.get('www-authenticate')), /The DPoP proof was already used\./);
    // draft-8 RateLimit: "…"; r=<remaining>: the second instance counted the first one's requests.
    const left = (response: Response): number =>
      Number(/;\s*r=(\d+)/.exec(String(response.headers.get('ratelimit')))?.[1]);
    assert.equal(left(replayed), left(accepted) - 1);
  });

  it('answers 503 to a proof while Redis is down (never accepts it unrecorded), and 401 without a token, not 500', async () => {
    const [one] = services;
    assert.ok(one !== undefined);
    const token = await as.sign({ scope: 'orders:read', ...key.cnf });
    const nonce = String((await call(one, token)).response.headers.get('dpop-nonce'));
    await redis.kill();
    try {
      const down = (await call(one, token, nonce)).response;
      assert.equal(down.status, 503);
      const anonymous = await fetch(`${one.url}/orders`, { signal: AbortSignal.timeout(10_000) });
      await anonymous.arrayBuffer();
      assert.equal(anonymous.status, 401, 'the rate limit lets it through to authentication');
    } finally {
      await redis.restart();
    }
  });
});
