import assert from 'node:assert/strict';

import { authenticate, errorHandler, MemoryIntrospectionStore, requireScopes } from '@bearer-guard/express';
import type {
  GuardEventMap,
  IntrospectionCacheEntry,
  IntrospectionOptions,
  IntrospectionStore,
  SingleIssuerOptions,
} from '@bearer-guard/express';
import { startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub, EndpointBehaviour } from '@bearer-guard/testkit';
import express from 'express';
import { exportJWK, generateKeyPair } from 'jose';
import request from 'supertest';

import {
  assertErrorBody,
  DESCRIPTION,
  insufficientScope,
  invalidToken,
  nowSeconds,
  probe,
  SHORT_TIMEOUT,
  TIMEOUT,
} from './support.js';

const INACTIVE = 'The access token is not active.';
const SENDER_CONSTRAINED = 'The access token is bound to a key and cannot be used as a bearer token.';
const UNAVAILABLE = 'The access token cannot be validated at the moment. Try again later.';

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

/** A store that ignores TTLs: only the guard's own `exp` re-check can stop a stale hit. */
class ForeverStore implements IntrospectionStore {
  readonly entries = new Map<string, IntrospectionCacheEntry>();
  get(key: string): IntrospectionCacheEntry | undefined {
    return this.entries.get(key);
  }
  set(key: string, value: IntrospectionCacheEntry): void {
    this.entries.set(key, value);
  }
  delete(key: string): void {
    this.entries.delete(key);
  }
}

describe('authenticate() with token introspection', function () {
  let as: AuthorizationServerStub;

  before(async function () {
    as = await startAuthorizationServer();
  });

  after(async function () {
    await as.close();
  });

  afterEach(function () {
    as.setBehaviour('introspection', { mode: 'ok' });
  });

  /**
   * A fresh guard (own cache and breaker) in front of GET /orders and GET /admin (scope `admin`),
   * trusting `server` (the shared stub unless another is given).
   */
  function api(
    introspection: Partial<IntrospectionOptions> = {},
    options: Partial<SingleIssuerOptions> = {},
    server: AuthorizationServerStub = as,
  ) {
    const route = probe();
    const failures: GuardEventMap['introspection.failed'][] = [];
    const states: string[] = [];
    const app = express();
    app.set('env', 'test');
    const auth = authenticate({
      issuer: server.issuer,
      audience: server.audience,
      timeout: TIMEOUT,
      introspection: {
        clientId: server.introspectionClient.clientId,
        clientSecret: server.introspectionClient.clientSecret,
        endpoint: server.introspectionEndpoint,
        timeout: TIMEOUT,
        ...introspection,
      },
      ...options,
    });
    auth.guard.on('introspection.failed', (event) => {
      failures.push(event);
    });
    auth.guard.on('circuit.state', (event) => {
      states.push(event.state);
    });
    app.use(auth);
    app.get('/orders', route.handler);
    app.get('/admin', requireScopes('admin'), route.handler);
    app.use(errorHandler());
    return { app, route, failures, states, auth };
  }

  const get = (app: express.Express, token: string, path = '/orders') =>
    request(app).get(path).set('Authorization', `Bearer ${token}`);

  describe('an active opaque token', function () {
    it('answers 200 with an introspection principal (client_secret_basic, token_type_hint)', async function () {
      const { app, route } = api();
      const token = as.issueOpaqueToken({ sub: 'alice', scope: 'orders:read orders:write' });

      const res = await get(app, token);

      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { ok: true, subject: 'alice' });
      assert.equal(res.headers['www-authenticate'], undefined);
      assert.equal(route.calls, 1);
      const principal = route.principals[0];
      assert.ok(principal !== undefined);
      assert.equal(principal.source, 'introspection');
      assert.equal(principal.token, token);
      assert.equal(principal.issuer, as.issuer);
      assert.deepEqual(principal.scopes, ['orders:read', 'orders:write']);
      const seen = as.lastIntrospectionRequest;
      assert.ok(seen !== undefined);
      assert.equal(seen.token, token);
      assert.equal(seen.tokenTypeHint, 'access_token');
      assert.equal(seen.clientId, as.introspectionClient.clientId);
      assert.equal(seen.authMethod, 'client_secret_basic');
    });

    it('authenticates with client_secret_post', async function () {
      const { app, route } = api({ authMethod: 'client_secret_post' });

      const res = await get(app, as.issueOpaqueToken());

      assert.equal(res.status, 200);
      assert.equal(route.calls, 1);
      assert.equal(as.lastIntrospectionRequest?.authMethod, 'client_secret_post');
    });

    it('authenticates with private_key_jwt', async function () {
      const { privateKey, publicKey } = await generateKeyPair('ES256');
      const jwk = { ...(await exportJWK(publicKey)), kid: 'rs-key-1', alg: 'ES256', use: 'sig' };
      as.registerClient({ clientId: 'rs-private-key-jwt', jwks: { keys: [jwk] } });
      const { app, route } = api({
        clientId: 'rs-private-key-jwt',
        clientSecret: undefined,
        authMethod: 'private_key_jwt',
        privateKey,
        privateKeyId: 'rs-key-1',
      });

      const res = await get(app, as.issueOpaqueToken());

      assert.equal(res.status, 200);
      assert.equal(route.calls, 1);
      assert.equal(as.lastIntrospectionRequest?.authMethod, 'private_key_jwt');
      assert.equal(as.lastIntrospectionRequest.clientId, 'rs-private-key-jwt');
    });
  });

  describe('a token that is not valid here', function () {
    const cases: [string, () => string, string][] = [
      ['unknown', () => 'an-opaque-token-the-server-never-issued', INACTIVE],
      [
        'revoked',
        () => {
          const token = as.issueOpaqueToken();
          as.revoke(token);
          return token;
        },
        INACTIVE,
      ],
      ['expired (inactive at the server)', () => as.issueOpaqueToken({}, { expiresIn: -10 }), INACTIVE],
      [
        'for another audience',
        () => as.issueOpaqueToken({ aud: 'https://other.example' }),
        DESCRIPTION.audienceInvalid,
      ],
      [
        'from another issuer',
        () => as.issueOpaqueToken({ iss: 'https://evil.example' }),
        DESCRIPTION.issuerInvalid,
      ],
      ['without aud', () => as.issueOpaqueToken({ aud: undefined }), DESCRIPTION.audienceInvalid],
    ];
    for (const [label, mint, description] of cases) {
      it(`answers 401 invalid_token to a token ${label}`, async function () {
        const { app, route } = api();

        const res = await get(app, mint());

        assert.equal(res.status, 401);
        assert.equal(res.headers['www-authenticate'], invalidToken(description));
        assertErrorBody(res.body, 'invalid_token', description);
        assert.equal(route.calls, 0);
      });
    }

    it('answers 401 expired when the server says active but exp has passed', async function () {
      const { app, route } = api();
      as.setBehaviour('introspection', {
        mode: 'json',
        body: { active: true, iss: as.issuer, aud: as.audience, exp: nowSeconds() - 60 },
      });

      const res = await get(app, 'opaque-token-with-past-exp');

      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], invalidToken(DESCRIPTION.expired));
      assertErrorBody(res.body, 'invalid_token', DESCRIPTION.expired);
      assert.equal(route.calls, 0);
    });

    it('accepts a token without aud when acceptMissingAudience is true', async function () {
      const { app, route } = api({ acceptMissingAudience: true });

      const res = await get(app, as.issueOpaqueToken({ aud: undefined }));

      assert.equal(res.status, 200);
      assert.equal(route.calls, 1);
    });

    it('answers 403 insufficient_scope when the route needs a scope the token lacks', async function () {
      const { app, route } = api();

      const res = await get(app, as.issueOpaqueToken({ scope: 'read write' }), '/admin');

      assert.equal(res.status, 403);
      assert.equal(res.headers['www-authenticate'], insufficientScope('admin'));
      assertErrorBody(res.body, 'insufficient_scope', DESCRIPTION.insufficientScope);
      assert.equal(route.calls, 0);
    });

    it('treats {"active":"true"} as inactive: 401, not 503', async function () {
      const { app, route, failures } = api();
      as.setBehaviour('introspection', { mode: 'json', body: { active: 'true' } });

      const res = await get(app, 'opaque-token-with-string-active');

      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], invalidToken(INACTIVE));
      assertErrorBody(res.body, 'invalid_token', INACTIVE);
      assert.equal(route.calls, 0);
      assert.equal(failures.length, 0);
    });
  });

  describe('caching', function () {
    it('introspects once for 5 sequential uses', async function () {
      const { app, route } = api();
      const token = as.issueOpaqueToken();
      const before = as.counters.introspection;

      for (let i = 0; i < 5; i += 1) assert.equal((await get(app, token)).status, 200);

      assert.equal(as.counters.introspection - before, 1);
      assert.equal(route.calls, 5);
    });

    it('introspects once for 30 concurrent first uses', async function () {
      const { app, route } = api();
      const token = as.issueOpaqueToken();
      const before = as.counters.introspection;

      const responses = await Promise.all(Array.from({ length: 30 }, () => get(app, token)));

      assert.deepEqual(
        responses.map((res) => res.status),
        Array.from({ length: 30 }, () => 200),
      );
      assert.equal(as.counters.introspection - before, 1);
      assert.equal(route.calls, 30);
    });

    it('a store shared by two services: an answer vetted by one is checked again by the other', async function () {
      const store = new MemoryIntrospectionStore(100);
      const orders = api({ store });
      const billing = api({ store }, { audience: 'https://billing.example' });
      const token = as.issueOpaqueToken({ sub: 'alice' }); // aud: the orders API only

      assert.equal((await get(orders.app, token)).status, 200);
      assert.equal((await get(orders.app, token)).status, 200, 'a hit for the service it is meant for');
      for (let i = 0; i < 2; i++) {
        const res = await get(billing.app, token);
        assert.equal(res.status, 401, 'not meant for billing, though cached by orders');
        assert.equal(res.headers['www-authenticate'], invalidToken(DESCRIPTION.audienceInvalid));
      }
      assert.equal((await get(orders.app, token)).status, 200);
      assert.equal(billing.route.calls, 0);
    });

    it('caches an inactive answer for negativeSeconds', async function () {
      const { app, route } = api({ cache: { maxSeconds: 60, negativeSeconds: 5 } });
      const before = as.counters.introspection;

      const first = await get(app, 'never-issued-token');
      const second = await get(app, 'never-issued-token');

      assert.equal(first.status, 401);
      assert.equal(second.status, 401);
      assert.equal(second.headers['www-authenticate'], invalidToken(INACTIVE));
      assert.equal(as.counters.introspection - before, 1);
      assert.equal(route.calls, 0);
    });

    it('never lets a cached answer outlive exp, even when the store keeps it', async function () {
      const store = new ForeverStore();
      const { app, route } = api({ cache: { maxSeconds: 60 }, store }, { clockTolerance: 0 });
      const token = as.issueOpaqueToken({}, { expiresIn: 1 });
      const before = as.counters.introspection;

      assert.equal((await get(app, token)).status, 200);
      await sleep(1200);
      const res = await get(app, token);

      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], invalidToken(DESCRIPTION.expired));
      assertErrorBody(res.body, 'invalid_token', DESCRIPTION.expired);
      assert.equal(as.counters.introspection - before, 1);
      assert.equal(route.calls, 1);
    });
  });

  describe('when introspection cannot answer', function () {
    // [the endpoint is…, its behaviour, our introspection options, the `introspection.failed` reason]
    const outages: [string, EndpointBehaviour, Partial<IntrospectionOptions>, string][] = [
      ['down (500)', { mode: 'fail' }, {}, 'status'],
      ['answering garbage', { mode: 'garbage' }, {}, 'invalid-response'],
      ['answering HTML', { mode: 'html' }, {}, 'invalid-response'],
      ['hanging past the timeout', { mode: 'hang' }, { timeout: SHORT_TIMEOUT }, 'timeout'],
      ['refusing the connection', { mode: 'ok' }, { endpoint: 'http://127.0.0.1:1/introspect' }, 'network'],
      [
        'refusing our secret (client-authentication)',
        { mode: 'ok' },
        { clientSecret: 'not-the-secret' },
        'client-authentication',
      ],
    ];
    for (const [label, behaviour, introspection, reason] of outages) {
      it(`answers 503 with Retry-After and no challenge when the endpoint is ${label}`, async function () {
        const { app, route, failures } = api(introspection);
        as.setBehaviour('introspection', behaviour);

        const res = await get(app, as.issueOpaqueToken());

        assert.equal(res.status, 503);
        assert.equal(res.headers['retry-after'], '10');
        assert.equal(res.headers['www-authenticate'], undefined);
        assertErrorBody(res.body, 'temporarily_unavailable', UNAVAILABLE);
        assert.equal(route.calls, 0);
        assert.deepEqual(
          failures.map((event) => event.reason),
          [reason],
        );
      });
    }
  });

  describe('circuit breaker', function () {
    it('fails fast once open, then probes after the cooldown and closes', async function () {
      const { app, route, states } = api({ breaker: { failureThreshold: 2, cooldown: 300 } });
      const token = as.issueOpaqueToken();
      as.setBehaviour('introspection', { mode: 'fail' });

      assert.equal((await get(app, token)).status, 503);
      assert.equal((await get(app, token)).status, 503);
      assert.deepEqual(states, ['open']);
      const before = as.counters.introspection;

      const fast = await get(app, token);

      assert.equal(fast.status, 503);
      assert.equal(fast.headers['retry-after'], '1');
      assert.equal(fast.headers['www-authenticate'], undefined);
      assertErrorBody(fast.body, 'temporarily_unavailable', UNAVAILABLE);
      assert.equal(as.counters.introspection, before);

      as.setBehaviour('introspection', { mode: 'ok' });
      await sleep(350);
      const res = await get(app, token);

      assert.equal(res.status, 200);
      assert.equal(as.counters.introspection - before, 1);
      assert.deepEqual(states, ['open', 'half-open', 'closed']);
      assert.equal(route.calls, 1);
    });
  });

  describe('what a caller puts in its token never opens the breaker', function () {
    const tokenErrors = ['unsupported_token_type', 'invalid_token'];
    for (const error of tokenErrors) {
      it(`answers 400 ${error} (about the presented token) with 401 inactive, and the breaker stays closed`, async function () {
        const { app, route, failures, states } = api({ breaker: { failureThreshold: 2, cooldown: 60_000 } });
        as.setBehaviour('introspection', { mode: 'json', status: 400, body: { error } });

        for (let i = 0; i < 5; i++) {
          const res = await get(app, `forged-token-${String(i)}`);
          assert.equal(res.status, 401);
          assert.equal(res.headers['www-authenticate'], invalidToken(INACTIVE));
          assertErrorBody(res.body, 'invalid_token', INACTIVE);
        }
        as.setBehaviour('introspection', { mode: 'ok' });
        const res = await get(app, as.issueOpaqueToken());

        assert.equal(res.status, 200);
        assert.equal(route.calls, 1);
        assert.deepEqual(failures, []);
        assert.deepEqual(states, []);
      });
    }

    // [label, behaviour]: answers that may be about the token: 503 for the request, never counted.
    const refusals: [string, EndpointBehaviour][] = [
      ['400 invalid_request', { mode: 'json', status: 400, body: { error: 'invalid_request' } }],
      ['403 access_denied', { mode: 'json', status: 403, body: { error: 'access_denied' } }],
      [
        '413 without an OAuth error body',
        { mode: 'json', status: 413, body: 'too large', contentType: 'text/plain' },
      ],
      ['404', { mode: 'notFound' }],
    ];
    for (const [label, behaviour] of refusals) {
      it(`answers ${label} with 503 (reason "refused") without counting it: the breaker stays closed`, async function () {
        const { app, route, failures, states } = api({ breaker: { failureThreshold: 2, cooldown: 60_000 } });
        as.setBehaviour('introspection', behaviour);

        for (let i = 0; i < 5; i++) {
          const res = await get(app, `forged-token-${String(i)}`);
          assert.equal(res.status, 503);
          assert.equal(res.headers['www-authenticate'], undefined);
          assertErrorBody(res.body, 'temporarily_unavailable', UNAVAILABLE);
        }
        as.setBehaviour('introspection', { mode: 'ok' });
        const res = await get(app, as.issueOpaqueToken());

        assert.equal(res.status, 200);
        assert.equal(route.calls, 1);
        assert.deepEqual(
          failures.map((event) => event.reason),
          Array.from({ length: 5 }, () => 'refused'),
        );
        assert.deepEqual(states, []);
      });
    }

    // What only the server or our own configuration can cause still counts.
    const counted: [string, EndpointBehaviour, string][] = [
      ['429', { mode: 'fail', status: 429 }, 'status'],
      ['503', { mode: 'fail', status: 503 }, 'status'],
      [
        '400 invalid_client',
        { mode: 'json', status: 400, body: { error: 'invalid_client' } },
        'client-authentication',
      ],
      // RFC 7662 §2.3: a 401 is about the resource server's own credentials, whatever its `error`.
      [
        '401 invalid_token',
        { mode: 'json', status: 401, body: { error: 'invalid_token' } },
        'client-authentication',
      ],
      [
        '200 text/plain',
        { mode: 'json', body: { active: true }, contentType: 'text/plain' },
        'invalid-response',
      ],
    ];
    for (const [label, behaviour, reason] of counted) {
      it(`counts ${label} as a failure: the breaker opens`, async function () {
        const { app, failures, states } = api({ breaker: { failureThreshold: 2, cooldown: 60_000 } });
        as.setBehaviour('introspection', behaviour);

        assert.equal((await get(app, 'token-1')).status, 503);
        assert.equal((await get(app, 'token-2')).status, 503);
        const before = as.counters.introspection;
        assert.equal((await get(app, 'token-3')).status, 503);

        assert.equal(as.counters.introspection, before, 'failing fast');
        assert.deepEqual(
          failures.map((event) => event.reason),
          [reason, reason],
        );
        assert.deepEqual(states, ['open']);
      });
    }

    it('a half-open probe answered about its token closes the circuit', async function () {
      const { app, route, states } = api({ breaker: { failureThreshold: 1, cooldown: 100 } });
      as.setBehaviour('introspection', { mode: 'fail' });
      assert.equal((await get(app, 'token-1')).status, 503);
      await sleep(150);

      as.setBehaviour('introspection', {
        mode: 'json',
        status: 400,
        body: { error: 'unsupported_token_type' },
      });
      assert.equal((await get(app, 'forged-probe')).status, 401);
      as.setBehaviour('introspection', { mode: 'ok' });

      assert.equal((await get(app, as.issueOpaqueToken())).status, 200);
      assert.deepEqual(states, ['open', 'half-open', 'closed']);
      assert.equal(route.calls, 1);
    });

    it('a half-open probe refused with 400 invalid_request frees the probe slot and leaves the circuit half-open', async function () {
      const { app, route, states } = api({ breaker: { failureThreshold: 1, cooldown: 100 } });
      as.setBehaviour('introspection', { mode: 'fail' });
      assert.equal((await get(app, 'token-1')).status, 503);
      await sleep(150);

      as.setBehaviour('introspection', { mode: 'json', status: 400, body: { error: 'invalid_request' } });
      assert.equal((await get(app, 'forged-probe')).status, 503);
      assert.deepEqual(states, ['open', 'half-open']);
      as.setBehaviour('introspection', { mode: 'ok' });
      const before = as.counters.introspection;

      assert.equal((await get(app, as.issueOpaqueToken())).status, 200, 'the next request probes');
      assert.equal(as.counters.introspection - before, 1);
      assert.deepEqual(states, ['open', 'half-open', 'closed']);
      assert.equal(route.calls, 1);
    });
  });

  describe('the content type of an answer', function () {
    const answer = (): Record<string, unknown> => ({
      active: true,
      iss: as.issuer,
      aud: as.audience,
      sub: 'alice',
      exp: nowSeconds() + 60,
    });

    for (const contentType of ['text/plain', 'application/jwt', 'application/json-seq', 'text/json']) {
      it(`refuses a 200 answer of ${contentType} with a JSON body: 503 invalid-response`, async function () {
        const { app, route, failures } = api();
        as.setBehaviour('introspection', { mode: 'json', body: answer(), contentType });

        const res = await get(app, 'opaque-token');

        assert.equal(res.status, 503);
        assert.equal(res.headers['retry-after'], '10');
        assert.equal(res.headers['www-authenticate'], undefined);
        assertErrorBody(res.body, 'temporarily_unavailable', UNAVAILABLE);
        assert.equal(route.calls, 0);
        assert.deepEqual(
          failures.map((event) => event.reason),
          ['invalid-response'],
        );
      });
    }

    it('compares the media type case-insensitively and allows parameters', async function () {
      for (const contentType of [
        'Application/JSON',
        'application/json; charset=utf-8',
        'APPLICATION/JSON;charset=UTF-8',
      ]) {
        const { app, route, failures } = api();
        as.setBehaviour('introspection', { mode: 'json', body: answer(), contentType });

        const res = await get(app, 'opaque-token');

        assert.equal(res.status, 200, contentType);
        assert.equal(route.principals[0]?.subject, 'alice');
        assert.deepEqual(failures, []);
      }
    });

    it('reads an error answer of Application/JSON: 400 unsupported_token_type is inactive', async function () {
      const { app, failures } = api();
      as.setBehaviour('introspection', {
        mode: 'json',
        status: 400,
        body: { error: 'unsupported_token_type' },
        contentType: 'Application/JSON; charset=utf-8',
      });

      const res = await get(app, 'forged-token');

      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], invalidToken(INACTIVE));
      assert.deepEqual(failures, []);
    });
  });

  describe('tokens bound to a key (RFC 9449, RFC 8705)', function () {
    const bound: [string, Record<string, unknown>][] = [
      ['cnf.jkt (DPoP)', { cnf: { jkt: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs' } }],
      ['cnf.x5t#S256 (mTLS)', { cnf: { 'x5t#S256': 'bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2' } }],
      [
        'cnf.x5t#S256 beside another member',
        { cnf: { 'x5t#S256': 'bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2', foo: 1 } },
      ],
      ['token_type DPoP', { token_type: 'DPoP' }],
      ['token_type dpop', { token_type: 'dpop' }],
    ];
    for (const [label, claims] of bound) {
      it(`refuses an active token with ${label}: 401 ERR_BEARER_TOKEN_SENDER_CONSTRAINED, cached or not`, async function () {
        const { app, route } = api();
        const token = as.issueOpaqueToken(claims);

        for (let i = 0; i < 2; i++) {
          const res = await get(app, token);
          assert.equal(res.status, 401);
          assert.equal(res.headers['www-authenticate'], invalidToken(SENDER_CONSTRAINED));
          assertErrorBody(res.body, 'invalid_token', SENDER_CONSTRAINED);
        }
        assert.equal(route.calls, 0);
      });
    }

    it('accepts a cnf without a known confirmation method', async function () {
      const { app, route } = api();

      const res = await get(app, as.issueOpaqueToken({ cnf: { foo: 1 } }));

      assert.equal(res.status, 200);
      assert.equal(route.calls, 1);
    });
  });

  describe('the endpoint from discovery', function () {
    /** No `endpoint`: the guard takes the introspection endpoint from the server's metadata. */
    const discovering = (server: AuthorizationServerStub = as) => api({ endpoint: undefined }, {}, server);

    it('introspects at the introspection_endpoint of the metadata', async function () {
      const { app, route } = discovering();
      const before = as.counters.introspection;

      const res = await get(app, as.issueOpaqueToken({ sub: 'discovered' }));

      assert.equal(res.status, 200);
      assert.equal(route.principals[0]?.subject, 'discovered');
      assert.equal(as.counters.introspection - before, 1);
    });

    it('never sends its credentials to a discovered plain-http endpoint off loopback: 503, and ready() names it', async function () {
      const tampered = await startAuthorizationServer({
        metadata: { introspection_endpoint: 'http://introspection.example/introspect' },
      });
      try {
        const { app, route, auth } = discovering(tampered);

        const res = await get(app, tampered.issueOpaqueToken());

        assert.equal(res.status, 503);
        assert.equal(res.headers['www-authenticate'], undefined);
        assertErrorBody(
          res.body,
          'temporarily_unavailable',
          'The authorization server metadata cannot be retrieved. Try again later.',
        );
        assert.equal(route.calls, 0);
        assert.equal(tampered.counters.introspection, 0);
        await assert.rejects(auth.ready(), (error: Error) => {
          assert.match(error.message, /"http:\/\/introspection\.example\/introspect"/);
          assert.match(error.message, /plain http URL/);
          return true;
        });
      } finally {
        await tampered.close();
      }
    });
  });

  describe('JWTs and opaque tokens in one app', function () {
    it('validates stub JWTs locally and introspects only opaque tokens', async function () {
      const { app, route } = api({}, { jwksUri: as.jwksUri });
      const jwt = await as.sign({ sub: 'jwt-user' });
      const before = as.counters.introspection;

      const local = await get(app, jwt);

      assert.equal(local.status, 200);
      assert.equal(route.principals[0]?.source, 'jwt');
      assert.equal(as.counters.introspection, before);

      const opaque = await get(app, as.issueOpaqueToken());

      assert.equal(opaque.status, 200);
      assert.equal(route.principals[1]?.source, 'introspection');
      assert.equal(as.counters.introspection - before, 1);
    });

    it('with introspectJwts also introspects JWTs, so a revoked JWT is refused', async function () {
      const { app, route } = api({ introspectJwts: true, cache: false }, { jwksUri: as.jwksUri });
      const jwt = await as.sign();
      const before = as.counters.introspection;

      const first = await get(app, jwt);

      assert.equal(first.status, 200);
      assert.equal(route.principals[0]?.source, 'jwt');
      assert.equal(as.counters.introspection - before, 1);

      as.revoke(jwt);
      const res = await get(app, jwt);

      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], invalidToken(INACTIVE));
      assertErrorBody(res.body, 'invalid_token', INACTIVE);
      assert.equal(as.counters.introspection - before, 2);
      assert.equal(route.calls, 1);
    });
  });
});
