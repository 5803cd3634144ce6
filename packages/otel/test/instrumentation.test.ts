import assert from 'node:assert/strict';
import { channel, tracingChannel } from 'node:diagnostics_channel';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { createTokenClient } from '@bearer-guard/client';
import { BearerGuardError, createGuard, type BearerGuard } from '@bearer-guard/core';
import { BearerGuardInstrumentation, CHANNEL_NAMES, METRICS } from '@bearer-guard/otel';
import { startAuthorizationServer, type AuthorizationServerStub } from '@bearer-guard/testkit';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { MeterProvider, type Histogram } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';

import { TestReader, type Point, collect } from './support.js';

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

const named = (points: Point[], name: string): Point[] => points.filter((point) => point.name === name);

/** The sum of a counter's points whose attributes include `match`. */
function count(points: Point[], name: string, match: Record<string, unknown>): number {
  return named(points, name)
    .filter((point) => Object.entries(match).every(([key, value]) => point.attributes[key] === value))
    .reduce(
      (sum, point) =>
        sum + (typeof point.value === 'number' ? point.value : (point.value as Histogram).count),
      0,
    );
}

describe('@bearer-guard/otel: BearerGuardInstrumentation', function () {
  let stub: AuthorizationServerStub;
  let reader: TestReader;
  let spans: InMemorySpanExporter;
  let instrumentation: BearerGuardInstrumentation;
  let unregister: () => void;
  let tokenServer: Server;
  let tokenEndpoint: string;
  const secrets: string[] = [];

  function guardFor(): BearerGuard {
    return createGuard({
      issuer: stub.issuer,
      audience: stub.audience,
      jwksUri: stub.jwksUri,
      timeout: 2000,
      jwksCache: { cooldown: 200, cacheMaxAge: 1000 },
      tokenCache: { admission: 'first-use' },
    });
  }

  before(async function () {
    stub = await startAuthorizationServer();
    tokenServer = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      response.end(
        JSON.stringify({ access_token: 'issued-at-77aa11', token_type: 'Bearer', expires_in: 3600 }),
      );
    });
    await new Promise<void>((resolve) => tokenServer.listen(0, '127.0.0.1', resolve));
    tokenEndpoint = `http://127.0.0.1:${String((tokenServer.address() as AddressInfo).port)}/token`;
  });

  after(async function () {
    await stub.close();
    tokenServer.closeAllConnections();
    await new Promise((resolve) => tokenServer.close(resolve));
  });

  beforeEach(function () {
    reader = new TestReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    spans = new InMemorySpanExporter();
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
    instrumentation = new BearerGuardInstrumentation();
    unregister = registerInstrumentations({
      instrumentations: [instrumentation],
      meterProvider,
      tracerProvider,
    });
  });

  afterEach(function () {
    unregister();
    stub.setBehaviour('introspection', { mode: 'ok' });
  });

  it('the seven scenarios show up with the documented names and attributes, nothing secret among them', async function () {
    const guard = guardFor();
    // 1. an accepted token (cold: the initial key load, a span), 5. the same token, cached.
    const accepted = await stub.sign({ sub: 'sub-a1b2', jti: 'jti-c3d4', scope: 'orders:read' });
    secrets.push(accepted, 'sub-a1b2', 'jti-c3d4');
    const principal = await guard.verify(accepted);
    await guard.verify(accepted);
    // 2. an expired token.
    const expired = await stub.sign({ sub: 'sub-e5f6', jti: 'jti-0718', exp: nowSeconds() - 300 });
    secrets.push(expired, 'sub-e5f6', 'jti-0718');
    await assert.rejects(guard.verify(expired), { code: 'ERR_BEARER_TOKEN_EXPIRED' });
    // 3. a missing scope.
    assert.throws(() => {
      guard.requireScopes(principal, ['admin'], 'all');
    }, BearerGuardError);
    // 4. a JWKS refresh (a token of a new key).
    const kid = await stub.rotateKeys();
    const rotated = await stub.sign({ sub: 'sub-92ab', jti: 'jti-cdef' }, { kid });
    secrets.push(rotated, 'sub-92ab', 'jti-cdef');
    await guard.verify(rotated);
    // 6. an introspection outage.
    const introspecting = createGuard({
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
    secrets.push(stub.introspectionClient.clientSecret);
    stub.setBehaviour('introspection', { mode: 'fail', status: 503 });
    const opaque = stub.issueOpaqueToken({ sub: 'sub-op-3344', jti: 'jti-op-5566' });
    secrets.push(opaque, 'sub-op-3344', 'jti-op-5566');
    await assert.rejects(introspecting.verify(opaque), { code: 'ERR_BEARER_INTROSPECTION_UNAVAILABLE' });
    // 7. a token request.
    const tokens = createTokenClient({ tokenEndpoint, clientId: 'svc', clientSecret: 'secret-88cc99' });
    secrets.push('issued-at-77aa11', 'secret-88cc99');
    await tokens.getToken();

    const points = await collect(reader);
    const A = 'bearer_guard.outcome';
    assert.equal(
      count(points, METRICS.authentications, {
        [A]: 'accepted',
        'bearer_guard.cache': 'none',
        'bearer_guard.token.source': 'jwt',
        'bearer_guard.issuer': stub.issuer,
        'bearer_guard.binding': 'none',
      }),
      2,
      'the cold token and the rotated one',
    );
    assert.equal(
      count(points, METRICS.authentications, { [A]: 'accepted', 'bearer_guard.cache': 'memory' }),
      1,
      'the cached hit',
    );
    assert.equal(
      count(points, METRICS.authentications, { [A]: 'rejected', 'error.type': 'ERR_BEARER_TOKEN_EXPIRED' }),
      1,
    );
    assert.equal(
      count(points, METRICS.authentications, {
        [A]: 'unavailable',
        'error.type': 'ERR_BEARER_INTROSPECTION_UNAVAILABLE',
        'bearer_guard.token.source': 'introspection',
      }),
      1,
    );
    assert.equal(count(points, METRICS.authenticationDuration, {}), 5, 'one duration per authentication');
    assert.equal(
      count(points, METRICS.authorizations, {
        [A]: 'refused',
        'error.type': 'ERR_BEARER_INSUFFICIENT_SCOPE',
        'bearer_guard.policy': 'scopes',
      }),
      1,
    );
    assert.equal(count(points, METRICS.keysLoads, { [A]: 'loaded', 'bearer_guard.trigger': 'initial' }), 1);
    assert.equal(
      count(points, METRICS.keysLoads, { [A]: 'loaded', 'bearer_guard.trigger': 'unknown-kid' }),
      1,
    );
    assert.equal(
      count(points, METRICS.introspectionDuration, { [A]: 'unavailable', 'error.type': 'status' }),
      1,
    );
    assert.deepEqual(
      named(points, METRICS.circuitState)
        .filter((point) => point.value === 1)
        .map((point) => point.attributes),
      [{ 'bearer_guard.circuit': `introspection ${stub.issuer}`, 'bearer_guard.circuit.state': 'open' }],
    );
    assert.equal(count(points, METRICS.tokenClientRequests, { [A]: 'issued' }), 1);

    // Spans: one per outbound call (two key loads, one introspection, one token request), none per hit.
    const finished: ReadableSpan[] = spans.getFinishedSpans();
    const operations = finished.map((span) => span.attributes['bearer_guard.operation']).sort();
    assert.deepEqual(operations, ['introspection', 'keys.load', 'keys.load', 'token_request']);
    const jwks = finished.find((span) => span.attributes['bearer_guard.operation'] === 'keys.load');
    assert.ok(jwks !== undefined);
    assert.equal(jwks.name, 'GET');
    assert.equal(jwks.attributes['url.full'], stub.jwksUri);
    assert.equal(jwks.attributes['server.address'], '127.0.0.1');
    const introspection = finished.find(
      (span) => span.attributes['bearer_guard.operation'] === 'introspection',
    );
    assert.ok(introspection !== undefined);
    assert.equal(introspection.name, 'POST');
    // HTTP client conventions: a 5xx answer's status code is the span's error.type.
    assert.equal(introspection.attributes['error.type'], '503');
    assert.equal(introspection.attributes['http.response.status_code'], 503);
    assert.equal(introspection.status.code, 2 /* SpanStatusCode.ERROR */);
    const token = finished.find((span) => span.attributes['bearer_guard.operation'] === 'token_request');
    assert.ok(token !== undefined);
    assert.equal(token.attributes['http.response.status_code'], 200);
    assert.equal(token.attributes['url.full'], tokenEndpoint);

    const text = JSON.stringify({ points, spans: finished.map((span) => [span.name, span.attributes]) });
    for (const secret of [...secrets, ...accepted.split('.')]) {
      assert.ok(!text.includes(secret), `an attribute contains ${secret.slice(0, 12)}…`);
    }
  });

  it('disable() unsubscribes from every channel, enable() subscribes again', async function () {
    const names = Object.values(CHANNEL_NAMES);
    const subscribed = (): boolean[] =>
      names.map((name) =>
        name === CHANNEL_NAMES.authorize || name === CHANNEL_NAMES.circuitState
          ? channel(name).hasSubscribers
          : tracingChannel(name).hasSubscribers,
      );
    assert.deepEqual(
      subscribed(),
      names.map(() => true),
    );
    instrumentation.disable();
    assert.deepEqual(
      subscribed(),
      names.map(() => false),
      'no subscriber left: the guard pays nothing',
    );
    await guardFor().verify(await stub.sign());
    assert.equal(count(await collect(reader), METRICS.authentications, {}), 0);
    instrumentation.enable();
    instrumentation.enable();
    await guardFor().verify(await stub.sign());
    assert.equal(count(await collect(reader), METRICS.authentications, {}), 1, 'enabled once, counted once');
    assert.equal(instrumentation.getConfig().enabled, true);
  });

  it('a telemetry fault (a tracer or meter that throws) never reaches the process: no uncaught exception, the request is answered', async function () {
    unregister();
    const faulty = <T extends object>(target: T): T =>
      new Proxy(target, {
        get: (object, key) =>
          key === 'startSpan' || key === 'add' || key === 'record'
            ? () => {
                throw new Error('telemetry fault');
              }
            : Reflect.get(object, key),
      });
    const tracerProvider = new BasicTracerProvider();
    const meterProvider = new MeterProvider({ readers: [new TestReader()] });
    const throwing = new BearerGuardInstrumentation({ enabled: false });
    throwing.setTracerProvider({ getTracer: (...args) => faulty(tracerProvider.getTracer(...args)) });
    throwing.setMeterProvider({
      getMeter: (...args) => {
        const meter = meterProvider.getMeter(...args);
        return new Proxy(meter, {
          get: (object, key) =>
            key === 'createCounter' || key === 'createHistogram'
              ? (...created: [string]) =>
                  faulty((Reflect.get(object, key) as (name: string) => object).call(object, ...created))
              : Reflect.get(object, key),
        });
      },
    });
    throwing.enable();
    // Node turns a subscriber's exception into an uncaught one on the next tick.
    const uncaught: unknown[] = [];
    const previous = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', (error) => uncaught.push(error));
    try {
      const guard = guardFor();
      const token = await stub.sign();
      await guard.verify(token);
      await guard.verify(token);
      await assert.rejects(guard.verify('not-a-jwt'), BearerGuardError);
      await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      throwing.disable();
      process.removeAllListeners('uncaughtException');
      for (const listener of previous) process.on('uncaughtException', listener);
    }
    assert.deepEqual(uncaught, []);
    unregister = () => undefined;
  });

  it('an instrumentation created with enabled: false subscribes only when registered', function () {
    unregister();
    const idle = new BearerGuardInstrumentation({ enabled: false });
    assert.equal(tracingChannel(CHANNEL_NAMES.authenticate).hasSubscribers, false);
    const stop = registerInstrumentations({ instrumentations: [idle] });
    assert.equal(tracingChannel(CHANNEL_NAMES.authenticate).hasSubscribers, true);
    stop();
    assert.equal(tracingChannel(CHANNEL_NAMES.authenticate).hasSubscribers, false);
    unregister = () => undefined;
  });
});
