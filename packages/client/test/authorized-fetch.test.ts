import assert from 'node:assert/strict';
import { createTokenClient, type TokenClient } from '../src/index.js';
import { json, startHttpStub, type HttpStub, type RecordedRequest } from './support/http-stub.js';
import { BILLING, ORDERS, startOidcProvider, type OidcProviderFixture } from './support/oidc-provider.js';

const INVALID_TOKEN =
  'Bearer realm="orders", error="invalid_token", error_description="The access token expired"';

function bearer(request: RecordedRequest | undefined): string {
  return String(request?.headers.authorization).replace(/^Bearer /, '');
}

describe('tokens.fetch (RFC 6750 §2.1, §3.1)', () => {
  let as: OidcProviderFixture;
  let backend: HttpStub;
  let tokens: TokenClient;
  let reasons: string[];

  before(async () => {
    as = await startOidcProvider();
  });
  after(async () => {
    await as.close();
  });
  beforeEach(async () => {
    as.requests.clear();
    backend = await startHttpStub((_request, response) => json(response, 200, { ok: true }));
    tokens = createTokenClient({
      issuer: as.issuer,
      clientId: as.basicClient.clientId,
      clientSecret: as.basicClient.clientSecret,
      scope: 'orders:read',
      resource: ORDERS,
    });
    reasons = [];
    tokens.on('token.renewed', (event) => reasons.push(event.reason));
  });
  afterEach(async () => {
    await backend.close();
  });

  /** The backend refuses the first `count` requests with 401 invalid_token. */
  function refuseFirst(count: number): void {
    backend.handle = (_request, response, index) => {
      if (index < count)
        json(response, 401, { error: 'invalid_token' }, { 'www-authenticate': INVALID_TOKEN });
      else json(response, 200, { ok: true });
    };
  }

  it('attaches the cached token, replacing any Authorization the caller set, and works unbound', async () => {
    const orders = tokens.fetch;
    const response = await orders(`${backend.url}/orders?patient=123`, {
      headers: { authorization: 'Basic eA==', 'x-trace': '1' },
    });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { ok: true });
    const { access_token } = await tokens.getToken();
    const [seen] = backend.requests;
    assert.ok(seen);
    assert.equal(seen.headers.authorization, `Bearer ${access_token}`);
    assert.equal(seen.headers['x-trace'], '1');
    assert.equal(seen.path, '/orders?patient=123');
    assert.equal(as.count('/token'), 1);
  });

  it('on 401 invalid_token renews exactly once and retries exactly once', async () => {
    refuseFirst(1);
    const response = await tokens.fetch(`${backend.url}/orders`);
    assert.equal(response.status, 200);
    assert.equal(backend.requests.length, 2);
    assert.notEqual(bearer(backend.requests[0]), bearer(backend.requests[1]));
    assert.equal(as.count('/token'), 2);
    assert.deepEqual(reasons, ['initial', 'invalid_token']);
    assert.equal((await tokens.getToken()).access_token, bearer(backend.requests[1]));
  });

  it('returns the second 401 as it is: one retry, never a loop', async () => {
    refuseFirst(Infinity);
    const response = await tokens.fetch(`${backend.url}/orders`);
    assert.equal(response.status, 401);
    assert.equal(response.headers.get('www-authenticate'), INVALID_TOKEN);
    assert.equal(backend.requests.length, 2);
    assert.equal(as.count('/token'), 2);
  });

  it('renews at most once per cooldown for a backend that refuses every token', async () => {
    refuseFirst(Infinity);
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await tokens.fetch(`${backend.url}/orders`)).status);
    assert.deepEqual(new Set(statuses), new Set([401]));
    // The first call drops its token and retries once; the next 19 are refused with the new token
    // inside the cooldown: returned as they are, no token dropped, no token request.
    assert.equal(as.count('/token'), 2);
    assert.equal(backend.requests.length, 21);
    assert.equal(new Set(backend.requests.slice(1).map(bearer)).size, 1);
    assert.deepEqual(reasons, ['initial', 'invalid_token']);
  });

  it('does not renew for other 401s or 403 insufficient_scope', async () => {
    const challenges = ['Bearer realm="orders"', 'Basic realm="x", Bearer error="invalid_request"'];
    backend.handle = (_request, response, index) => {
      if (index < challenges.length) {
        json(response, 401, {}, { 'www-authenticate': challenges[index] ?? '' });
      } else {
        json(
          response,
          403,
          {},
          { 'www-authenticate': 'Bearer error="insufficient_scope", scope="orders:write"' },
        );
      }
    };
    for (const status of [401, 401, 403])
      assert.equal((await tokens.fetch(`${backend.url}/orders`)).status, status);
    assert.equal(backend.requests.length, 3);
    assert.equal(as.count('/token'), 1);
    assert.deepEqual(reasons, ['initial']);
  });

  it('replays a POST whose body is a string', async () => {
    refuseFirst(1);
    const response = await tokens.fetch(`${backend.url}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ item: 'x' }),
    });
    assert.equal(response.status, 200);
    assert.deepEqual(
      backend.requests.map((request) => [request.method, request.body]),
      [
        ['POST', '{"item":"x"}'],
        ['POST', '{"item":"x"}'],
      ],
    );
  });

  it('replays a PUT whose body is URLSearchParams', async () => {
    // A test of its own: a second refusal right after the first falls in the refusal cooldown.
    refuseFirst(1);
    const form = await tokens.fetch(`${backend.url}/orders`, {
      method: 'PUT',
      body: new URLSearchParams({ a: '1' }),
    });
    assert.equal(form.status, 200);
    assert.deepEqual(
      backend.requests.map((request) => request.body),
      ['a=1', 'a=1'],
    );
  });

  it('retries a bodiless Request input', async () => {
    refuseFirst(1);
    const response = await tokens.fetch(new Request(`${backend.url}/orders`, { headers: { 'x-id': '7' } }));
    assert.equal(response.status, 200);
    assert.equal(backend.requests.length, 2);
    assert.deepEqual(
      backend.requests.map((request) => request.headers['x-id']),
      ['7', '7'],
    );
  });

  it('does not replay a stream body, but drops the refused token for the next call', async () => {
    refuseFirst(1);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('streamed'));
        controller.close();
      },
    });
    const response = await tokens.fetch(`${backend.url}/upload`, {
      method: 'POST',
      body,
      duplex: 'half',
    });
    assert.equal(response.status, 401);
    assert.equal(backend.requests.length, 1);
    assert.equal(backend.requests[0]?.body, 'streamed');
    assert.equal(as.count('/token'), 1);
    assert.equal((await tokens.fetch(`${backend.url}/orders`)).status, 200);
    assert.equal(as.count('/token'), 2);
    assert.notEqual(bearer(backend.requests[1]), bearer(backend.requests[0]));
  });

  it('renews once when 50 concurrent calls are refused with the same token', async () => {
    const first = (await tokens.getToken()).access_token;
    backend.handle = (request, response) => {
      if (bearer(request) === first) json(response, 401, {}, { 'www-authenticate': INVALID_TOKEN });
      else json(response, 200, { ok: true });
    };
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => tokens.fetch(`${backend.url}/orders`)),
    );
    assert.deepEqual(new Set(responses.map((response) => response.status)), new Set([200]));
    assert.equal(backend.requests.length, 100);
    assert.equal(as.count('/token'), 2);
    assert.deepEqual(reasons, ['initial', 'invalid_token']);
  });

  it('uses another token for another backend with fetchFor', async () => {
    const billing = tokens.fetchFor({ resource: BILLING, scope: 'billing:read' });
    await billing(`${backend.url}/invoices`);
    await tokens.fetch(`${backend.url}/orders`);
    await billing(`${backend.url}/invoices`);
    assert.equal(as.count('/token'), 2);
    const [invoice1, order, invoice2] = backend.requests.map(bearer);
    assert.equal(invoice1, invoice2);
    assert.notEqual(invoice1, order);
    assert.equal(
      (await tokens.getToken({ resource: BILLING, scope: 'billing:read' })).access_token,
      invoice1,
    );
  });

  it('refuses a plain-http target outside loopback before getting a token', async () => {
    await assert.rejects(tokens.fetch('http://orders.example/orders'), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'ERR_TOKEN_CLIENT_INVALID_ARGUMENT');
      assert.match(error.message, /allowInsecureHttp/);
      return true;
    });
    assert.equal(as.count('/token'), 0);
  });
});

describe('tokens.fetch while a token is on its way', () => {
  it('stops waiting when the caller aborts, and the shared request still fills the cache', async () => {
    const as = await startHttpStub((_request, response) => {
      setTimeout(() => json(response, 200, { access_token: 'slow-token', token_type: 'Bearer' }), 300);
    });
    const backend = await startHttpStub((_request, response) => response.writeHead(200).end());
    try {
      const tokens = createTokenClient({
        tokenEndpoint: `${as.url}/token`,
        clientId: 'c',
        clientSecret: 's',
      });
      const started = performance.now();
      await assert.rejects(tokens.fetch(`${backend.url}/x`, { signal: AbortSignal.timeout(50) }), {
        name: 'TimeoutError',
      });
      assert.ok(performance.now() - started < 250);
      assert.equal(backend.requests.length, 0);
      assert.equal((await tokens.getToken()).access_token, 'slow-token');
      assert.equal(as.requests.length, 1);
    } finally {
      await backend.close();
      await as.close();
    }
  });
});
