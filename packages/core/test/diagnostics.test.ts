import assert from 'node:assert/strict';
import { subscribe, tracingChannel, unsubscribe } from 'node:diagnostics_channel';

import { CHANNELS, createGuard } from '@bearer-guard/core';
import type { BearerGuard, Principal, SingleIssuerOptions } from '@bearer-guard/core';
import { createDpopProof, generateDpopKey, startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub } from '@bearer-guard/testkit';

import { nowSeconds, rejectsWith, thrown } from './helpers.js';

/** The events of an operation that failed after an asynchronous step, in tracePromise's order. */
const ASYNC_REFUSAL = ['start', 'end', 'error', 'asyncStart', 'asyncEnd'];

const TRACING = [CHANNELS.authenticate, CHANNELS.keysLoad, CHANNELS.discovery, CHANNELS.introspection];
const PLAIN = [CHANNELS.authorize, CHANNELS.circuitState];
const EVENTS = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const;

interface Published {
  name: string;
  event: string;
  message: Record<string, unknown>;
}

/**
 * Subscribe to every channel the core publishes on and record a copy of each message as it was
 * at each event (the same object travels through a tracing operation and is filled in on the way).
 */
function recordChannels(): { seen: Published[]; stop: () => void } {
  const seen: Published[] = [];
  const stops: (() => void)[] = [];
  for (const name of TRACING) {
    const traced = tracingChannel(name);
    const handlers = Object.fromEntries(
      EVENTS.map((event) => [
        event,
        (message: object) => seen.push({ name, event, message: { ...message } }),
      ]),
    ) as unknown as Parameters<typeof traced.subscribe>[0];
    traced.subscribe(handlers);
    stops.push(() => {
      traced.unsubscribe(handlers);
    });
  }
  for (const name of PLAIN) {
    const listener = (message: unknown): void => {
      seen.push({ name, event: 'publish', message: { ...(message as object) } });
    };
    subscribe(name, listener);
    stops.push(() => {
      unsubscribe(name, listener);
    });
  }
  return {
    seen,
    stop: () => {
      for (const stop of stops) stop();
    },
  };
}

const on = (seen: Published[], name: string): Published[] => seen.filter((entry) => entry.name === name);
const events = (seen: Published[], name: string): string[] => on(seen, name).map((entry) => entry.event);
const last = (seen: Published[], name: string): Record<string, unknown> | undefined =>
  on(seen, name).at(-1)?.message;

describe('diagnostics channels (diagnostics.ts)', function () {
  let stub: AuthorizationServerStub;
  let recorder: ReturnType<typeof recordChannels>;

  function guardFor(extra: Partial<SingleIssuerOptions> = {}): BearerGuard {
    return createGuard({
      issuer: stub.issuer,
      audience: stub.audience,
      jwksUri: stub.jwksUri,
      timeout: 2000,
      jwksCache: { cooldown: 200, cacheMaxAge: 1000 },
      tokenCache: { admission: 'first-use' },
      ...extra,
    });
  }

  function introspectingGuard(): BearerGuard {
    return createGuard({
      issuer: stub.issuer,
      audience: stub.audience,
      timeout: 2000,
      introspection: {
        clientId: stub.introspectionClient.clientId,
        clientSecret: stub.introspectionClient.clientSecret,
        endpoint: stub.introspectionEndpoint,
        timeout: 2000,
      },
    });
  }

  const bearer = (token: string) => ({ method: 'GET', headers: { authorization: `Bearer ${token}` } });

  before(async function () {
    stub = await startAuthorizationServer();
  });

  after(async function () {
    await stub.close();
  });

  beforeEach(function () {
    recorder = recordChannels();
  });

  afterEach(function () {
    recorder.stop();
    stub.setBehaviour('introspection', { mode: 'ok' });
  });

  it('names its channels as documented', function () {
    assert.deepEqual(
      { ...CHANNELS },
      {
        authenticate: 'bearer-guard:authenticate',
        authorize: 'bearer-guard:authorize',
        keysLoad: 'bearer-guard:keys.load',
        discovery: 'bearer-guard:discovery',
        introspection: 'bearer-guard:introspection',
        circuitState: 'bearer-guard:circuit.state',
      },
    );
  });

  it('an accepted JWT: validated (asyncEnd, cache none), then cached (end, cache memory), with the initial key load', async function () {
    const guard = guardFor();
    const token = await stub.sign({ scope: 'orders:read' });
    const { seen } = recorder;

    await guard.authenticateNow(bearer(token));
    assert.deepEqual(events(seen, CHANNELS.authenticate), ['start', 'end', 'asyncStart', 'asyncEnd']);
    const cold = last(seen, CHANNELS.authenticate);
    assert.deepEqual(cold, {
      issuer: stub.issuer,
      source: 'jwt',
      cache: 'none',
      outcome: 'accepted',
      code: undefined,
      binding: 'none',
    });
    assert.deepEqual(events(seen, CHANNELS.keysLoad), ['start', 'end', 'asyncStart', 'asyncEnd']);
    assert.deepEqual(last(seen, CHANNELS.keysLoad), {
      issuer: stub.issuer,
      uri: stub.jwksUri,
      trigger: 'initial',
      outcome: 'loaded',
      keyCount: stub.jwks().keys.length,
      errorType: undefined,
      status: 200,
    });

    seen.length = 0;
    const cached = guard.authenticateNow(bearer(token));
    assert.ok(!(cached instanceof Promise), 'a cached token is answered synchronously');
    assert.deepEqual(events(seen, CHANNELS.authenticate), ['start', 'end']);
    assert.deepEqual(last(seen, CHANNELS.authenticate), { ...cold, cache: 'memory' });
    assert.deepEqual(on(seen, CHANNELS.keysLoad), [], 'a cache hit fetches nothing');

    seen.length = 0;
    assert.ok(guard.authenticateCached(bearer(token)) !== undefined);
    assert.deepEqual(last(seen, CHANNELS.authenticate), { ...cold, cache: 'memory' });
  });

  it('an expired JWT: rejected with its code, error before end', async function () {
    const guard = guardFor();
    const token = await stub.sign({ iat: nowSeconds() - 600, exp: nowSeconds() - 300 });
    await rejectsWith(guard.verify(token), 'ERR_BEARER_TOKEN_EXPIRED', 401);
    assert.deepEqual(events(recorder.seen, CHANNELS.authenticate), ASYNC_REFUSAL);
    assert.deepEqual(last(recorder.seen, CHANNELS.authenticate), {
      issuer: stub.issuer,
      source: 'jwt',
      cache: 'none',
      outcome: 'rejected',
      code: 'ERR_BEARER_TOKEN_EXPIRED',
      binding: undefined,
    });
  });

  it("a replayed DPoP proof: rejected with its code and binding dpop, the cached token's source and issuer known", async function () {
    const guard = guardFor({ publicUrl: 'https://orders.example', dpop: {} });
    const key = await generateDpopKey();
    const token = await stub.sign({ ...key.cnf });
    const proof = await createDpopProof(key, {
      htm: 'GET',
      htu: 'https://orders.example/orders',
      accessToken: token,
    });
    const request = {
      method: 'GET',
      url: '/orders',
      headers: { authorization: `DPoP ${token}`, dpop: proof },
    };
    await guard.authenticateNow(request);
    assert.equal(last(recorder.seen, CHANNELS.authenticate)?.['binding'], 'dpop');
    recorder.seen.length = 0;
    // The token is cached; the proof's signature is checked on libuv's pool: an asynchronous refusal.
    await rejectsWith(
      Promise.resolve().then(() => guard.authenticateNow(request)),
      'ERR_BEARER_DPOP_PROOF_REPLAYED',
      401,
    );
    assert.deepEqual(events(recorder.seen, CHANNELS.authenticate), ASYNC_REFUSAL);
    assert.deepEqual(last(recorder.seen, CHANNELS.authenticate), {
      issuer: stub.issuer,
      source: 'jwt',
      cache: 'memory',
      outcome: 'rejected',
      code: 'ERR_BEARER_DPOP_PROOF_REPLAYED',
      binding: 'dpop',
    });
  });

  it('a request without a token: rejected synchronously (ERR_BEARER_TOKEN_MISSING); none needed: nothing published', function () {
    thrown(() => guardFor().authenticateNow({ method: 'GET', headers: {} }));
    assert.deepEqual(events(recorder.seen, CHANNELS.authenticate), ['start', 'error', 'end']);
    assert.equal(last(recorder.seen, CHANNELS.authenticate)?.['code'], 'ERR_BEARER_TOKEN_MISSING');
    assert.equal(last(recorder.seen, CHANNELS.authenticate)?.['outcome'], 'rejected');

    recorder.seen.length = 0;
    assert.equal(
      guardFor({ credentialsRequired: false }).authenticateNow({ method: 'GET', headers: {} }),
      undefined,
    );
    assert.deepEqual(recorder.seen, []);
  });

  it('authorize: a missing scope is refused with ERR_BEARER_INSUFFICIENT_SCOPE, a held one granted', async function () {
    const guard = guardFor();
    const principal: Principal = await guard.verify(await stub.sign({ scope: 'orders:read' }));
    recorder.seen.length = 0;
    guard.requireScopes(principal, ['orders:read'], 'all');
    thrown(() => {
      guard.requireScopes(principal, ['admin'], 'all');
    });
    thrown(() => {
      guard.requireAudience(principal, ['https://elsewhere.example']);
    });
    assert.deepEqual(
      on(recorder.seen, CHANNELS.authorize).map((entry) => entry.message),
      [
        { policy: 'scopes', outcome: 'granted', code: undefined },
        { policy: 'scopes', outcome: 'refused', code: 'ERR_BEARER_INSUFFICIENT_SCOPE' },
        { policy: 'audience', outcome: 'refused', code: 'ERR_BEARER_TOKEN_AUDIENCE_INVALID' },
      ],
    );
  });

  it('a JWKS refresh: a token of a new key triggers a load with trigger unknown-kid', async function () {
    const guard = guardFor();
    await guard.verify(await stub.sign());
    const kid = await stub.rotateKeys();
    recorder.seen.length = 0;
    await guard.verify(await stub.sign({}, { kid }));
    assert.deepEqual(last(recorder.seen, CHANNELS.keysLoad), {
      issuer: stub.issuer,
      uri: stub.jwksUri,
      trigger: 'unknown-kid',
      outcome: 'loaded',
      keyCount: stub.jwks().keys.length,
      errorType: undefined,
      status: 200,
    });
  });

  it('discovery: the metadata fetch is one traced operation', async function () {
    const guard = guardFor({ jwksUri: undefined });
    await guard.verify(await stub.sign());
    assert.deepEqual(events(recorder.seen, CHANNELS.discovery), ['start', 'end', 'asyncStart', 'asyncEnd']);
    assert.deepEqual(last(recorder.seen, CHANNELS.discovery), {
      issuer: stub.issuer,
      url: `${stub.issuer}/.well-known/oauth-authorization-server`,
      outcome: 'loaded',
      errorType: undefined,
      status: 200,
    });
  });

  it('introspection: a call (active), a cache hit (no call), an outage (unavailable, reason status)', async function () {
    const guard = introspectingGuard();
    const token = stub.issueOpaqueToken({ sub: 'alice', scope: 'orders:read' });
    await guard.verify(token);
    assert.deepEqual(events(recorder.seen, CHANNELS.introspection), [
      'start',
      'end',
      'asyncStart',
      'asyncEnd',
    ]);
    assert.deepEqual(last(recorder.seen, CHANNELS.introspection), {
      issuer: stub.issuer,
      endpoint: stub.introspectionEndpoint,
      outcome: 'active',
      reason: undefined,
      status: 200,
    });
    assert.deepEqual(last(recorder.seen, CHANNELS.authenticate), {
      issuer: stub.issuer,
      source: 'introspection',
      cache: 'none',
      outcome: 'accepted',
      code: undefined,
      binding: 'none',
    });

    recorder.seen.length = 0;
    await guard.verify(token);
    assert.deepEqual(on(recorder.seen, CHANNELS.introspection), []);
    assert.equal(last(recorder.seen, CHANNELS.authenticate)?.['cache'], 'memory');

    recorder.seen.length = 0;
    stub.setBehaviour('introspection', { mode: 'fail', status: 503 });
    await rejectsWith(
      guard.verify(stub.issueOpaqueToken({ sub: 'bob' })),
      'ERR_BEARER_INTROSPECTION_UNAVAILABLE',
      503,
    );
    assert.deepEqual(events(recorder.seen, CHANNELS.introspection), ASYNC_REFUSAL);
    assert.deepEqual(last(recorder.seen, CHANNELS.introspection), {
      issuer: stub.issuer,
      endpoint: stub.introspectionEndpoint,
      outcome: 'unavailable',
      reason: 'status',
      status: 503,
    });
    assert.deepEqual(last(recorder.seen, CHANNELS.authenticate), {
      issuer: stub.issuer,
      source: 'introspection',
      cache: 'none',
      outcome: 'unavailable',
      code: 'ERR_BEARER_INTROSPECTION_UNAVAILABLE',
      binding: undefined,
    });
  });

  it('the circuit breaker publishes its state changes', async function () {
    const guard = createGuard({
      issuer: stub.issuer,
      audience: stub.audience,
      timeout: 2000,
      introspection: {
        clientId: stub.introspectionClient.clientId,
        clientSecret: stub.introspectionClient.clientSecret,
        endpoint: stub.introspectionEndpoint,
        timeout: 2000,
        breaker: { failureThreshold: 1, cooldown: 1000 },
      },
    });
    stub.setBehaviour('introspection', { mode: 'fail', status: 500 });
    await rejectsWith(guard.verify(stub.issueOpaqueToken()), 'ERR_BEARER_INTROSPECTION_UNAVAILABLE');
    assert.deepEqual(last(recorder.seen, CHANNELS.circuitState), {
      name: `introspection ${stub.issuer}`,
      state: 'open',
      consecutiveFailures: 1,
    });
  });

  it('no message ever holds the token, sub, jti or a claim value', async function () {
    const marker = 'claim-value-7d1f';
    const jwt = await stub.sign({ sub: 'sub-6a2c', jti: 'jti-93be', custom: marker, scope: 'orders:read' });
    const opaque = stub.issueOpaqueToken({ sub: 'sub-opaque-51d0', jti: 'jti-opaque-0c7e', custom: marker });
    const expired = await stub.sign({ sub: 'sub-exp-44aa', jti: 'jti-exp-81f3', exp: nowSeconds() - 300 });
    const foreign = await stub.sign({ iss: 'https://issuer-ff01.example', sub: 'sub-ff01' });
    const guard = guardFor();
    const principal = await guard.verify(jwt);
    await guard.verify(jwt);
    guard.requireScopes(principal, ['orders:read'], 'all');
    thrown(() => {
      guard.requireScopes(principal, ['admin'], 'all');
    });
    await rejectsWith(guard.verify(expired), 'ERR_BEARER_TOKEN_EXPIRED');
    await rejectsWith(guard.verify(foreign), 'ERR_BEARER_TOKEN_ISSUER_INVALID');
    const introspecting = introspectingGuard();
    await introspecting.verify(opaque);
    stub.setBehaviour('introspection', { mode: 'fail' });
    await rejectsWith(
      introspecting.verify(stub.issueOpaqueToken({ sub: 'sub-out-2b9e' })),
      'ERR_BEARER_INTROSPECTION_UNAVAILABLE',
    );

    const text = JSON.stringify(recorder.seen);
    assert.ok(recorder.seen.length > 20, `expected many messages, got ${String(recorder.seen.length)}`);
    for (const secret of [
      jwt,
      opaque,
      expired,
      foreign,
      ...jwt.split('.'),
      'sub-6a2c',
      'jti-93be',
      'sub-opaque-51d0',
      'jti-opaque-0c7e',
      'sub-exp-44aa',
      'jti-exp-81f3',
      'sub-ff01',
      'issuer-ff01',
      'sub-out-2b9e',
      marker,
      stub.introspectionClient.clientSecret,
    ]) {
      assert.ok(!text.includes(secret), `a message contains ${secret.slice(0, 12)}…`);
    }
    for (const { message } of recorder.seen) {
      for (const value of Object.values(message)) {
        assert.ok(!(value instanceof Error), 'no Error objects (their cause may quote a claim)');
      }
    }
  });
});
