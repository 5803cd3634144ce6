import assert from 'node:assert/strict';

import { createGuard, type BearerGuard } from '@bearer-guard/core';
import { BearerGuardInstrumentation, METRICS } from '@bearer-guard/otel';
import { startAuthorizationServer, type AuthorizationServerStub } from '@bearer-guard/testkit';
import {
  AggregationTemporality,
  MeterProvider,
  type DataPoint,
  type Histogram,
} from '@opentelemetry/sdk-metrics';

import { TestReader } from './support.js';

/** The sum of a counter's points, or of a histogram's counts. */
async function total(reader: TestReader, name: string): Promise<number> {
  const { resourceMetrics } = await reader.collect();
  let sum = 0;
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (metric.descriptor.name !== name) continue;
      for (const point of metric.dataPoints as DataPoint<number | Histogram>[]) {
        sum += typeof point.value === 'number' ? point.value : point.value.count;
      }
    }
  }
  return sum;
}

describe('@bearer-guard/otel: meter providers set again, and two instrumentations on one', function () {
  let stub: AuthorizationServerStub;
  const enabled: BearerGuardInstrumentation[] = [];

  before(async function () {
    stub = await startAuthorizationServer();
  });

  after(async function () {
    await stub.close();
  });

  afterEach(function () {
    for (const instrumentation of enabled.splice(0)) instrumentation.disable();
  });

  function instrumentation(provider: MeterProvider): BearerGuardInstrumentation {
    const created = new BearerGuardInstrumentation({ enabled: false });
    created.setMeterProvider(provider);
    created.enable();
    enabled.push(created);
    return created;
  }

  const guardFor = (): BearerGuard =>
    createGuard({ issuer: stub.issuer, audience: stub.audience, jwksUri: stub.jwksUri, timeout: 2000 });

  it('the same provider set again (or set back after another) goes on counting: no authentication is lost, cumulative or delta', async function () {
    const cumulative = new TestReader(AggregationTemporality.CUMULATIVE);
    const delta = new TestReader(AggregationTemporality.DELTA);
    const provider = new MeterProvider({ readers: [cumulative, delta] });
    const other = new MeterProvider({ readers: [new TestReader(AggregationTemporality.CUMULATIVE)] });
    const subject = instrumentation(provider);
    const guard = guardFor();
    const token = await stub.sign();
    for (let index = 0; index < 3; index++) await guard.verify(token);
    assert.equal(await total(cumulative, METRICS.authentications), 3);
    assert.equal(await total(delta, METRICS.authentications), 3);

    subject.setMeterProvider(provider);
    await guard.verify(token);
    subject.setMeterProvider(other);
    await guard.verify(token);
    subject.setMeterProvider(provider);
    await guard.verify(token);

    assert.equal(await total(cumulative, METRICS.authentications), 5, 'three, then one, then one more');
    assert.equal(await total(delta, METRICS.authentications), 2, 'the two since the last collection');
    assert.equal(
      await total(cumulative, METRICS.authenticationDuration),
      5,
      'the histogram agrees with the counter',
    );
  });

  it('two instrumentations on one provider both count, counters and histograms alike', async function () {
    const reader = new TestReader(AggregationTemporality.CUMULATIVE);
    const provider = new MeterProvider({ readers: [reader] });
    const first = instrumentation(provider);
    instrumentation(provider);
    const guard = guardFor();
    const token = await stub.sign();
    await guard.verify(token);
    await guard.verify(token);
    assert.equal(await total(reader, METRICS.authentications), 4);
    assert.equal(await total(reader, METRICS.authenticationDuration), 4);
    assert.equal(await total(reader, METRICS.keysLoads), 2);
    first.disable();
    await guard.verify(token);
    assert.equal(await total(reader, METRICS.authentications), 5);
    assert.equal(await total(reader, METRICS.authenticationDuration), 5);
  });
  it('collections while authentications run lose or double no count, with a delta and a cumulative reader', async function () {
    const cumulative = new TestReader(AggregationTemporality.CUMULATIVE);
    const delta = new TestReader(AggregationTemporality.DELTA);
    instrumentation(new MeterProvider({ readers: [cumulative, delta] }));
    const guard = guardFor();
    const tokens = await Promise.all(Array.from({ length: 40 }, () => stub.sign()));
    let deltas = 0;
    const collecting = async (): Promise<void> => {
      for (let round = 0; round < 20; round++) {
        deltas += await total(delta, METRICS.authentications);
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    // Each token cold (a validation), then twice from the cache, all interleaved with collections.
    await Promise.all([
      collecting(),
      ...tokens.map(async (token) => {
        await guard.verify(token);
        await guard.verify(token);
        await guard.verify(token);
      }),
    ]);
    deltas += await total(delta, METRICS.authentications);
    assert.equal(deltas, 120);
    assert.equal(await total(cumulative, METRICS.authentications), 120);
    assert.equal(await total(cumulative, METRICS.authenticationDuration), 120);
  });

  it('disable() and enable() cycles leave one subscription: counted once', async function () {
    const reader = new TestReader(AggregationTemporality.CUMULATIVE);
    const subject = instrumentation(new MeterProvider({ readers: [reader] }));
    for (let cycle = 0; cycle < 5; cycle++) {
      subject.disable();
      subject.disable();
      subject.enable();
      subject.enable();
    }
    await guardFor().verify(await stub.sign());
    assert.equal(await total(reader, METRICS.authentications), 1);
    assert.equal(await total(reader, METRICS.keysLoads), 1);
  });
});
