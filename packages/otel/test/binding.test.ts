import assert from 'node:assert/strict';

import { createGuard, MemoryDpopReplayStore, type BearerGuard, type GuardOptions } from '@bearer-guard/core';
import { BearerGuardInstrumentation, METRICS } from '@bearer-guard/otel';
import {
  createDpopProof,
  generateDpopKey,
  startAuthorizationServer,
  type AuthorizationServerStub,
  type DpopKey,
} from '@bearer-guard/testkit';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { AggregationTemporality, MeterProvider } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';

import { TestReader, type Point, collect } from './support.js';

/** The authentications counted with exactly these attributes (issuer aside). */
function authentications(points: Point[], attributes: Record<string, string>): number {
  const wanted = JSON.stringify(Object.entries(attributes).sort());
  return points
    .filter((point) => point.name === METRICS.authentications)
    .filter((point) => {
      const rest = Object.entries(point.attributes).filter(([name]) => name !== 'bearer_guard.issuer');
      return JSON.stringify(rest.sort()) === wanted;
    })
    .reduce((sum, point) => sum + (point.value as number), 0);
}

const PUBLIC_URL = 'https://orders.example';

describe('@bearer-guard/otel: DPoP and certificate binding in bearer_guard.authentications', function () {
  let stub: AuthorizationServerStub;
  let key: DpopKey;
  let otherKey: DpopKey;
  let reader: TestReader;
  let spans: InMemorySpanExporter;
  let unregister: () => void;

  before(async function () {
    stub = await startAuthorizationServer();
    key = await generateDpopKey();
    otherKey = await generateDpopKey();
  });

  after(async function () {
    await stub.close();
  });

  function setUp(temporality: AggregationTemporality): void {
    reader = new TestReader(temporality);
    spans = new InMemorySpanExporter();
    unregister = registerInstrumentations({
      instrumentations: [new BearerGuardInstrumentation()],
      meterProvider: new MeterProvider({ readers: [reader] }),
      tracerProvider: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }),
    });
  }

  afterEach(function () {
    unregister();
  });

  function guardFor(options: Partial<GuardOptions> = {}): BearerGuard {
    return createGuard({
      issuer: stub.issuer,
      audience: stub.audience,
      jwksUri: stub.jwksUri,
      timeout: 2000,
      publicUrl: PUBLIC_URL,
      dpop: {},
      tokenCache: { admission: 'first-use' },
      ...options,
    } as GuardOptions);
  }

  const dpopRequest = (token: string, proof: string) => ({
    method: 'GET',
    url: '/orders',
    headers: { authorization: `DPoP ${token}`, dpop: proof },
  });
  const proofFor = (token: string, jti?: string, with_: DpopKey = key): Promise<string> =>
    createDpopProof(with_, { htm: 'GET', htu: `${PUBLIC_URL}/orders`, accessToken: token, jti });

  it('a replayed proof, a proof over its quota and an unavailable replay store are counted with their codes and binding dpop; no proof, jti, jkt or token in any attribute', async function () {
    setUp(AggregationTemporality.CUMULATIVE);
    const token = await stub.sign({ ...key.cnf, sub: 'sub-d9e8', jti: 'jti-f7a6', scope: 'orders:read' });
    const proof = await proofFor(token, 'proof-jti-5b4c');
    const guard = guardFor();
    await guard.authenticate(dpopRequest(token, proof));
    await assert.rejects(guard.authenticate(dpopRequest(token, proof)), {
      code: 'ERR_BEARER_DPOP_PROOF_REPLAYED',
    });

    // A store of one live proof: the same key's next proof is over its quota (429); another key's
    // finds the store full of live proofs, and the store fails closed (503).
    const full = guardFor({ dpop: { replayStore: new MemoryDpopReplayStore({ max: 1, maxPerKey: 1 }) } });
    const second = await proofFor(token, 'proof-jti-3a2b');
    const third = await proofFor(token, 'proof-jti-1c0d');
    await full.authenticate(dpopRequest(token, second));
    await assert.rejects(full.authenticate(dpopRequest(token, third)), {
      code: 'ERR_BEARER_DPOP_PROOF_QUOTA_EXCEEDED',
    });
    const otherToken = await stub.sign({ ...otherKey.cnf, sub: 'sub-d9e8', jti: 'jti-e6b5' });
    const fourth = await proofFor(otherToken, 'proof-jti-9e8f', otherKey);
    await assert.rejects(full.authenticate(dpopRequest(otherToken, fourth)), {
      code: 'ERR_BEARER_DPOP_REPLAY_STORE_UNAVAILABLE',
    });

    const points = await collect(reader);
    const jwt = { 'bearer_guard.token.source': 'jwt', 'bearer_guard.binding': 'dpop' };
    assert.equal(
      authentications(points, {
        ...jwt,
        'bearer_guard.outcome': 'accepted',
        'bearer_guard.cache': 'none',
      }),
      2,
      'the first proof of each guard',
    );
    assert.equal(
      authentications(points, {
        ...jwt,
        'bearer_guard.outcome': 'rejected',
        'error.type': 'ERR_BEARER_DPOP_PROOF_REPLAYED',
        'bearer_guard.cache': 'memory',
      }),
      1,
      'the replayed proof',
    );
    assert.equal(
      authentications(points, {
        ...jwt,
        'bearer_guard.outcome': 'unavailable',
        'error.type': 'ERR_BEARER_DPOP_REPLAY_STORE_UNAVAILABLE',
        'bearer_guard.cache': 'none',
      }),
      1,
      'the proof the full store could not record',
    );
    assert.equal(
      authentications(points, {
        ...jwt,
        'bearer_guard.outcome': 'rejected',
        'error.type': 'ERR_BEARER_DPOP_PROOF_QUOTA_EXCEEDED',
        'bearer_guard.cache': 'memory',
      }),
      1,
      "the proof over its key's quota",
    );

    const text = JSON.stringify({
      points,
      spans: spans.getFinishedSpans().map((span) => [span.name, span.attributes]),
    });
    const secrets = [
      token,
      ...token.split('.'),
      otherToken,
      'sub-d9e8',
      'jti-f7a6',
      'jti-e6b5',
      key.jkt,
      otherKey.jkt,
    ];
    for (const each of [proof, second, third, fourth]) secrets.push(each, ...each.split('.'));
    secrets.push('proof-jti-5b4c', 'proof-jti-3a2b', 'proof-jti-1c0d', 'proof-jti-9e8f');
    for (const secret of secrets) {
      assert.ok(!text.includes(secret), `an attribute contains ${secret.slice(0, 12)}…`);
    }
  });

  it('a certificate-bound token without the certificate: rejected with binding mtls', async function () {
    setUp(AggregationTemporality.CUMULATIVE);
    const guard = guardFor({ dpop: undefined, mtls: { certificate: 'socket' } });
    const token = await stub.sign({ cnf: { 'x5t#S256': 'bm90LWEtcmVhbC10aHVtYnByaW50' } });
    await assert.rejects(guard.verify(token), { code: 'ERR_BEARER_TOKEN_CERTIFICATE_MISMATCH' });
    assert.equal(
      authentications(await collect(reader), {
        'bearer_guard.outcome': 'rejected',
        'error.type': 'ERR_BEARER_TOKEN_CERTIFICATE_MISMATCH',
        'bearer_guard.token.source': 'jwt',
        'bearer_guard.cache': 'none',
        'bearer_guard.binding': 'mtls',
      }),
      1,
    );
  });

  it('the counters are monotonic sums: cumulative for a cumulative reader, each collection’s increase for a delta one', async function () {
    setUp(AggregationTemporality.DELTA);
    const guard = guardFor({ dpop: undefined });
    const token = await stub.sign();
    await guard.verify(token);
    await guard.verify(token);
    const accepted = {
      'bearer_guard.outcome': 'accepted',
      'bearer_guard.token.source': 'jwt',
      'bearer_guard.binding': 'none',
    };
    const first = await collect(reader);
    assert.equal(authentications(first, { ...accepted, 'bearer_guard.cache': 'none' }), 1);
    assert.equal(authentications(first, { ...accepted, 'bearer_guard.cache': 'memory' }), 1);
    await guard.verify(token);
    const second = await collect(reader);
    assert.equal(authentications(second, { ...accepted, 'bearer_guard.cache': 'none' }), 0, 'nothing new');
    assert.equal(
      authentications(second, { ...accepted, 'bearer_guard.cache': 'memory' }),
      1,
      'the one since',
    );
    const sum = second.find((point) => point.name === METRICS.authentications);
    assert.ok(sum !== undefined);
  });
});
