import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJwt, importJWK, type CryptoKey } from 'jose';
import {
  createTokenClient,
  TokenRequestError,
  type TokenClient,
  type TokenClientEventMap,
  type TokenClientOptions,
} from '../src/index.js';
import { BILLING, ORDERS, startOidcProvider, type OidcProviderFixture } from './support/oidc-provider.js';
import { startHttpStub } from './support/http-stub.js';
import { assertNoSecrets } from './support/secrets.js';

type AnyEvent = { name: string } & Record<string, unknown>;

/** Record every event of `tokens`, to assert on them and on their lack of secrets. */
function record(tokens: TokenClient): AnyEvent[] {
  const events: AnyEvent[] = [];
  for (const name of ['token.renewed', 'token.failed', 'token.retrying'] as const) {
    tokens.on(name, (event) => events.push({ name, ...event }));
  }
  return events;
}

const fastRetry = { attempts: 2, minDelay: 5, maxDelay: 10 };

describe('token client against node-oidc-provider', () => {
  let as: OidcProviderFixture;
  let options: TokenClientOptions;

  before(async () => {
    as = await startOidcProvider();
  });
  after(async () => {
    await as.close();
  });
  beforeEach(() => {
    as.requests.clear();
    options = {
      issuer: as.issuer,
      clientId: as.basicClient.clientId,
      clientSecret: as.basicClient.clientSecret,
      scope: 'orders:read',
      resource: ORDERS,
      retry: fastRetry,
    };
  });

  it('fetches on the first call and reuses the token for the next 100', async () => {
    const tokens = createTokenClient(options);
    const first = await tokens.getToken();
    assert.equal(as.count('/token'), 1);
    for (let i = 0; i < 100; i++) assert.equal((await tokens.getToken()).access_token, first.access_token);
    assert.equal(as.count('/token'), 1);
    assert.equal(as.count('/.well-known/oauth-authorization-server'), 1);
    const claims = decodeJwt(first.access_token);
    assert.equal(claims.aud, ORDERS);
    assert.equal(claims.scope, 'orders:read');
    assert.equal(first.scope, 'orders:read');
    assert.ok(first.expires_in >= 297 && first.expires_in <= 299, String(first.expires_in));
  });

  it('makes one token request for 50 concurrent first calls', async () => {
    const tokens = createTokenClient(options);
    const events = record(tokens);
    const results = await Promise.all(Array.from({ length: 50 }, () => tokens.getToken()));
    assert.equal(as.count('/token'), 1);
    assert.equal(new Set(results.map((token) => token.access_token)).size, 1);
    assert.deepEqual(
      events.map((event) => [event.name, event['reason']]),
      [['token.renewed', 'initial']],
    );
  });

  it('keeps one token per (scope, resource), whatever the scope order', async () => {
    const tokens = createTokenClient(options);
    const orders = await tokens.getToken();
    const billing = await tokens.getToken({ resource: BILLING, scope: 'billing:read' });
    const ordersBoth = await tokens.getToken({ scope: 'orders:write orders:read' });
    assert.equal(
      (await tokens.getToken({ scope: ['orders:read', 'orders:write'] })).access_token,
      ordersBoth.access_token,
    );
    assert.equal(
      (await tokens.getToken({ resource: BILLING, scope: 'billing:read' })).access_token,
      billing.access_token,
    );
    assert.equal((await tokens.getToken()).access_token, orders.access_token);
    assert.equal(new Set([orders, billing, ordersBoth].map((token) => token.access_token)).size, 3);
    assert.equal(as.count('/token'), 3);
    assert.equal(decodeJwt(ordersBoth.access_token).scope, 'orders:read orders:write');
  });

  it('keeps at most 256 (scope, resource) tokens, evicting the least recently used one', async function () {
    this.timeout(60_000);
    const tokens = createTokenClient(options);
    const resource = (i: number) => `https://service-${String(i)}.example`;
    const get = (i: number) => tokens.getToken({ resource: resource(i) });
    const issued = new Map<number, string>();
    for (let i = 0; i < 256; i++) issued.set(i, (await get(i)).access_token);
    assert.equal(as.count('/token'), 256);
    // service-0 becomes the most recently used; service-1 is now the least recently used.
    assert.equal((await get(0)).access_token, issued.get(0));
    assert.equal(as.count('/token'), 256);
    issued.set(256, (await get(256)).access_token);
    assert.equal(as.count('/token'), 257);
    // The other 256 are all still served from the cache, without a token request…
    for (const i of [0, ...Array.from({ length: 255 }, (_, n) => n + 2)]) {
      assert.equal((await get(i)).access_token, issued.get(i), resource(i));
    }
    assert.equal(as.count('/token'), 257);
    // …and service-1 was the one evicted.
    const renewed = await get(1);
    assert.notEqual(renewed.access_token, issued.get(1));
    assert.equal(as.count('/token'), 258);
  });

  it('renews on forceRenewal and on invalidate', async () => {
    const tokens = createTokenClient(options);
    const events = record(tokens);
    const first = await tokens.getToken();
    const forced = await tokens.getToken({ forceRenewal: true });
    tokens.invalidate();
    const after = await tokens.getToken();
    assert.equal(new Set([first, forced, after].map((token) => token.access_token)).size, 3);
    assert.equal(as.count('/token'), 3);
    assert.deepEqual(
      events.map((event) => event['reason']),
      ['initial', 'forced', 'invalid_token'],
    );
  });

  it('authenticates with client_secret_post', async () => {
    const tokens = createTokenClient({
      ...options,
      clientId: as.postClient.clientId,
      clientSecret: as.postClient.clientSecret,
      authMethod: 'client_secret_post',
    });
    assert.equal(decodeJwt((await tokens.getToken()).access_token).client_id, as.postClient.clientId);
  });

  it('authenticates with private_key_jwt (RFC 7523), from a JWK or a CryptoKey, for either audience', async () => {
    const { clientId, privateJwk } = as.jwtClient;
    const base = { issuer: as.issuer, clientId, scope: 'orders:read', resource: ORDERS, retry: fastRetry };
    const fromJwk = createTokenClient({ ...base, privateKey: privateJwk });
    const events = record(fromJwk);
    const token = await fromJwk.getToken();
    assert.equal(decodeJwt(token.access_token).client_id, clientId);
    assert.equal((await fromJwk.getToken()).access_token, token.access_token);
    const cryptoKey = (await importJWK(privateJwk, 'ES256')) as CryptoKey;
    const fromCryptoKey = createTokenClient({
      ...base,
      privateKey: cryptoKey,
      privateKeyId: privateJwk.kid,
      clientAssertionAudience: 'issuer',
    });
    assert.equal(decodeJwt((await fromCryptoKey.getToken()).access_token).client_id, clientId);
    assert.equal(as.count('/token'), 2);
    assertNoSecrets(events, [privateJwk.d ?? 'missing d']);
  });

  it('fails wrong client credentials with invalid_client, once, without leaking the secret', async () => {
    const wrongSecret = 'wrong-secret-0d9c8b7a6f';
    const tokens = createTokenClient({ ...options, clientSecret: wrongSecret });
    const events = record(tokens);
    const error: unknown = await tokens.getToken().catch((caught: unknown) => caught);
    assert.ok(error instanceof TokenRequestError);
    assert.equal(error.code, 'ERR_TOKEN_CLIENT_TOKEN_ERROR');
    assert.equal(error.error, 'invalid_client');
    assert.equal(error.status, 401);
    assert.equal(as.count('/token'), 1);
    assert.deepEqual(
      events.map((event) => [event.name, event['attempts'], event['servingCachedToken']]),
      [['token.failed', 1, false]],
    );
    assertNoSecrets([error, events], [wrongSecret, as.basicClient.clientSecret]);
  });

  it('fails a private_key_jwt signed with an unregistered key with invalid_client, without leaking the key', async () => {
    const { privateKey } = await import('node:crypto').then(({ generateKeyPairSync }) =>
      generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    );
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const tokens = createTokenClient({
      issuer: as.issuer,
      clientId: as.jwtClient.clientId,
      privateKey: pem,
      resource: ORDERS,
    });
    const events = record(tokens);
    await assert.rejects(tokens.getToken(), {
      code: 'ERR_TOKEN_CLIENT_TOKEN_ERROR',
      error: 'invalid_client',
    });
    const body = pem.split('\n').slice(1, -2).join('');
    assertNoSecrets(events, [body.slice(10, 50)]);
  });
});

describe('token lifetime and renewal (node-oidc-provider, short-lived tokens)', function () {
  this.timeout(20_000);

  it('renews a 5 s token before it expires, so callers never see an expired token', async () => {
    const as = await startOidcProvider({ accessTokenTTL: 5 });
    try {
      const tokens = createTokenClient({
        issuer: as.issuer,
        clientId: as.basicClient.clientId,
        clientSecret: as.basicClient.clientSecret,
        resource: ORDERS,
      });
      const events = record(tokens);
      const seen: { at: number; token: string }[] = [];
      const started = Date.now();
      while (Date.now() - started < 6000) {
        const { access_token } = await tokens.getToken();
        seen.push({ at: Date.now(), token: access_token });
        await sleep(25);
      }
      for (const { at, token } of seen) {
        // JWT `exp` is the authorization server's own verdict, in whole seconds.
        const exp = decodeJwt(token).exp ?? 0;
        assert.ok(at < exp * 1000, `a token was handed out ${String(at - exp * 1000)} ms after its exp`);
      }
      const distinct = [...new Set(seen.map(({ token }) => token))];
      assert.equal(distinct.length, 2);
      assert.equal(as.count('/token'), 2);
      // The second token was in use before the first one's exp: renewed ahead, not after a gap.
      const firstExp = (decodeJwt(distinct[0] ?? '').exp ?? 0) * 1000;
      const switched = seen.find(({ token }) => token === distinct[1])?.at ?? Infinity;
      assert.ok(switched < firstExp, `switched ${String(switched - firstExp)} ms after the first exp`);
      assert.deepEqual(
        events.map((event) => [event.name, event['reason']]),
        [
          ['token.renewed', 'initial'],
          ['token.renewed', 'proactive'],
        ],
      );
    } finally {
      await as.close();
    }
  });

  it('keeps using a valid cached token while the server is down, then fails with a typed error', async () => {
    const as = await startOidcProvider({ accessTokenTTL: 4 });
    const backend = await startHttpStub((_request, response) => response.writeHead(200).end('ok'));
    try {
      const tokens = createTokenClient({
        issuer: as.issuer,
        clientId: as.basicClient.clientId,
        clientSecret: as.basicClient.clientSecret,
        resource: ORDERS,
        // Capped at half the usable lifetime: renewal attempts start 1.5 s in, while the token has 1.5 s left.
        renewalMargin: 60_000,
        retry: fastRetry,
      });
      const events = record(tokens);
      const first = await tokens.getToken();
      const exp = (decodeJwt(first.access_token).exp ?? 0) * 1000;
      await as.stop();
      while (Date.now() < exp - 1300) {
        assert.equal((await tokens.getToken()).access_token, first.access_token);
        assert.equal((await tokens.fetch(`${backend.url}/orders`)).status, 200);
        await sleep(50);
      }
      assert.equal(backend.requests.at(-1)?.headers.authorization, `Bearer ${first.access_token}`);
      const failures = events.filter((event) => event.name === 'token.failed');
      assert.ok(failures.length >= 1, 'the background renewal was attempted');
      for (const failure of failures) {
        assert.equal(failure['reason'], 'proactive');
        assert.equal(failure['servingCachedToken'], true);
        assert.equal((failure['error'] as TokenRequestError).code, 'ERR_TOKEN_CLIENT_UNAVAILABLE');
      }

      await sleep(Math.max(0, exp - Date.now()));
      const backendCalls = backend.requests.length;
      await assert.rejects(tokens.getToken(), { code: 'ERR_TOKEN_CLIENT_UNAVAILABLE', step: 'token' });
      await assert.rejects(tokens.fetch(`${backend.url}/orders`), { code: 'ERR_TOKEN_CLIENT_UNAVAILABLE' });
      assert.equal(backend.requests.length, backendCalls, 'no call goes out without a token');
      const last = events.at(-1);
      assert.deepEqual([last?.name, last?.['servingCachedToken']], ['token.failed', false]);
      assertNoSecrets(events, [as.basicClient.clientSecret, first.access_token]);

      await as.start();
      const recovered = await tokens.getToken();
      assert.notEqual(recovered.access_token, first.access_token);
    } finally {
      await backend.close();
      await as.close();
    }
  });

  it('fails with ERR_TOKEN_CLIENT_UNAVAILABLE and sends nothing when the server is down and nothing is cached', async () => {
    const as = await startOidcProvider();
    const backend = await startHttpStub((_request, response) => response.writeHead(200).end());
    try {
      const tokens = createTokenClient({ ...optionsFor(as), retry: fastRetry });
      const events = record(tokens);
      await as.stop();
      await assert.rejects(tokens.getToken(), (error: TokenRequestError) => {
        assert.equal(error.code, 'ERR_TOKEN_CLIENT_UNAVAILABLE');
        assert.equal(error.step, 'discovery');
        assertNoSecrets(error, [as.basicClient.clientSecret]);
        return true;
      });
      await assert.rejects(tokens.fetch(`${backend.url}/orders`), { code: 'ERR_TOKEN_CLIENT_UNAVAILABLE' });
      assert.equal(backend.requests.length, 0);
      assert.deepEqual(
        events.map((event) => [event.name, event['attempts'] ?? event['attempt']]),
        [
          ['token.retrying', 1],
          ['token.failed', 2],
          ['token.retrying', 1],
          ['token.failed', 2],
        ],
      );
    } finally {
      await backend.close();
      await as.close();
    }
  });
});

function optionsFor(as: OidcProviderFixture): TokenClientOptions {
  return {
    issuer: as.issuer,
    clientId: as.basicClient.clientId,
    clientSecret: as.basicClient.clientSecret,
    scope: 'orders:read',
    resource: ORDERS,
  };
}

export type { TokenClientEventMap };
