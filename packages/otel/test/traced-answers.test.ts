import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { subscribe, tracingChannel, unsubscribe } from 'node:diagnostics_channel';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { CHANNELS } from '@bearer-guard/core';
import { authenticate, errorHandler, requireScopes } from '@bearer-guard/express';
import { BearerGuardInstrumentation, METRICS } from '@bearer-guard/otel';
import {
  createDpopProof,
  generateDpopKey,
  startAuthorizationServer,
  type AuthorizationServerStub,
  type DpopKey,
} from '@bearer-guard/testkit';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import express from 'express';

import { TestReader, type Point, collect } from './support.js';

const nowSeconds = (): number => Math.floor(Date.now() / 1000);
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** One request of the matrix: its headers (and query), given the tokens made for this run. */
interface Case {
  name: string;
  path?: string;
  headers: () => Promise<Record<string, string>> | Record<string, string>;
}

interface Answer {
  status: number;
  challenge: string | null;
  body: string;
}

describe('@bearer-guard/otel: the traced path answers as the untraced one, with bounded attributes', function () {
  let stub: AuthorizationServerStub;
  let key: DpopKey;
  let publicUrl: string;
  let server: Server;
  let base: string;
  /** Rebuilt per run, so that both runs start cold. */
  let app: express.Express;

  before(async function () {
    stub = await startAuthorizationServer();
    key = await generateDpopKey();
    server = createServer((request, response) => {
      app(request, response);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
    publicUrl = base;
  });

  after(async function () {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await stub.close();
  });

  function freshApp(): void {
    app = express();
    app.set('env', 'test');
    app.use(
      authenticate({
        issuer: stub.issuer,
        audience: stub.audience,
        jwksUri: stub.jwksUri,
        timeout: 2000,
        publicUrl,
        dpop: {},
        tokenCache: { admission: 'first-use' },
        jwksCache: { cooldown: 0 },
      }),
    );
    app.get('/orders', (_request, response) => {
      response.json({ ok: true });
    });
    app.get('/admin', requireScopes('admin'), (_request, response) => {
      response.json({ ok: true });
    });
    app.use(errorHandler({ onError: false }));
  }

  /** Per run: a fresh token of each kind, each presented twice (cold, then warm). */
  function matrix(): Case[] {
    const forgedIss = (): Promise<string> =>
      stub.sign({ iss: `https://evil.example/${randomBytes(6).toString('hex')}` });
    return [
      { name: 'no credentials', headers: () => ({}) },
      { name: 'empty bearer', headers: () => ({ authorization: 'Bearer ' }) },
      {
        name: 'unknown scheme',
        headers: () => ({ authorization: `Basic ${randomBytes(8).toString('hex')}` }),
      },
      { name: 'garbage', headers: () => ({ authorization: `Bearer ${randomBytes(12).toString('hex')}` }) },
      { name: 'bad base64url', headers: () => ({ authorization: 'Bearer a.b.c' }) },
      {
        name: 'alg none',
        headers: () => ({
          authorization: `Bearer ${b64({ alg: 'none' })}.${b64({ iss: stub.issuer, aud: stub.audience, exp: nowSeconds() + 60 })}.`,
        }),
      },
      { name: 'forged iss', headers: async () => ({ authorization: `Bearer ${await forgedIss()}` }) },
      {
        name: 'random kid',
        headers: async () => ({
          authorization: `Bearer ${await stub.sign({}, { header: { kid: randomBytes(8).toString('hex') } })}`,
        }),
      },
      {
        name: 'bad signature',
        headers: async () => {
          const token = await stub.sign();
          const [h, p] = token.split('.');
          return {
            authorization: `Bearer ${String(h)}.${String(p)}.${randomBytes(64).toString('base64url')}`,
          };
        },
      },
      {
        name: 'expired',
        headers: async () => ({ authorization: `Bearer ${await stub.sign({ exp: nowSeconds() - 600 })}` }),
      },
      {
        name: 'wrong audience',
        headers: async () => ({
          authorization: `Bearer ${await stub.sign({ aud: 'https://other.example' })}`,
        }),
      },
      {
        name: 'accepted',
        headers: async () => ({ authorization: `Bearer ${await stub.sign({ scope: 'orders:read' })}` }),
      },
      {
        name: 'missing scope',
        path: '/admin',
        headers: async () => ({ authorization: `Bearer ${await stub.sign({ scope: 'orders:read' })}` }),
      },
      {
        name: 'two schemes',
        headers: async () => ({ authorization: `Bearer ${await stub.sign()}, Bearer x` }),
      },
      {
        name: 'query token too',
        path: `/orders?access_token=${randomBytes(8).toString('hex')}`,
        headers: async () => ({ authorization: `Bearer ${await stub.sign()}` }),
      },
      {
        name: 'bound token as bearer',
        headers: async () => ({ authorization: `Bearer ${await stub.sign({ ...key.cnf })}` }),
      },
      {
        name: 'DPoP without proof',
        headers: async () => ({ authorization: `DPoP ${await stub.sign({ ...key.cnf })}` }),
      },
      {
        name: 'DPoP proof for another URL',
        headers: async () => {
          const token = await stub.sign({ ...key.cnf });
          const proof = await createDpopProof(key, {
            htm: 'GET',
            htu: `${publicUrl}/elsewhere/${randomBytes(6).toString('hex')}`,
            accessToken: token,
          });
          return { authorization: `DPoP ${token}`, dpop: proof };
        },
      },
      {
        name: 'DPoP accepted',
        headers: async () => {
          const token = await stub.sign({ ...key.cnf });
          const proof = await createDpopProof(key, {
            htm: 'GET',
            htu: `${publicUrl}/orders`,
            accessToken: token,
          });
          return { authorization: `DPoP ${token}`, dpop: proof };
        },
      },
    ];
  }

  async function run(): Promise<Record<string, Answer[]>> {
    freshApp();
    const answers: Record<string, Answer[]> = {};
    for (const entry of matrix()) {
      const headers = await entry.headers();
      const list: Answer[] = [];
      // Twice with the same headers: cold, then (for a cacheable token) warm; a DPoP proof the
      // second time is a replay.
      for (let round = 0; round < 2; round++) {
        const response = await fetch(`${base}${entry.path ?? '/orders'}`, { headers });
        list.push({
          status: response.status,
          challenge: response.headers.get('www-authenticate'),
          body: (await response.text()).replace(/"error_description":"[^"]*"/, ''),
        });
      }
      answers[entry.name] = list;
    }
    return answers;
  }

  it('every answer of the matrix is the same with and without a subscriber, and every attribute value is from a fixed set or the configuration', async function () {
    const untraced = await run();

    const reader = new TestReader();
    const spans = new InMemorySpanExporter();
    const instrumentation = new BearerGuardInstrumentation({ enabled: false });
    const unregister = registerInstrumentations({
      instrumentations: [instrumentation],
      meterProvider: new MeterProvider({ readers: [reader] }),
      tracerProvider: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }),
    });
    let traced: Record<string, Answer[]>;
    let points: Point[];
    try {
      traced = await run();
      // Twice more, with new random values: the attribute sets must not grow.
      points = await collect(reader);
      const before = new Set(points.map((point) => point.name + JSON.stringify(point.attributes))).size;
      await run();
      const after = new Set(
        (await collect(reader)).map((point) => point.name + JSON.stringify(point.attributes)),
      );
      assert.equal(after.size, before, 'random iss, kids, query strings and proofs add no attribute set');
    } finally {
      unregister();
    }
    assert.deepEqual(traced, untraced);

    const fixed = new Set([
      'accepted',
      'rejected',
      'unavailable',
      'granted',
      'refused',
      'loaded',
      'failed',
      'jwt',
      'introspection',
      'memory',
      'shared',
      'none',
      'dpop',
      'mtls',
      'scopes',
      'audience',
      'initial',
      'expired',
      'unknown-kid',
      'ready',
      stub.issuer,
    ]);
    for (const point of points) {
      for (const [name, value] of Object.entries(point.attributes)) {
        if (name === 'error.type') assert.match(String(value), /^ERR_BEARER_[A-Z_]+$|^[a-z-]+$/);
        else assert.ok(fixed.has(String(value)), `${point.name} ${name}=${String(value)}`);
      }
    }
    for (const span of spans.getFinishedSpans()) {
      assert.equal(span.attributes['url.full'], stub.jwksUri, 'spans only for the key loads');
    }
  });

  it('a foreign subscriber that throws on every event changes no answer', async function () {
    const untraced = await run();
    const names = [CHANNELS.authenticate, CHANNELS.keysLoad];
    const events = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const;
    const thrower = (): never => {
      throw new Error('a faulty APM agent');
    };
    const uncaught: unknown[] = [];
    const previous = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', (error) => uncaught.push(error));
    const authorize = (): never => thrower();
    subscribe(CHANNELS.authorize, authorize);
    for (const name of names) {
      tracingChannel(name).subscribe(Object.fromEntries(events.map((event) => [event, thrower])) as never);
    }
    let traced: Record<string, Answer[]>;
    try {
      traced = await run();
    } finally {
      for (const name of names) {
        tracingChannel(name).unsubscribe(
          Object.fromEntries(events.map((event) => [event, thrower])) as never,
        );
      }
      unsubscribe(CHANNELS.authorize, authorize);
      await new Promise((resolve) => setImmediate(resolve));
      process.removeAllListeners('uncaughtException');
      for (const listener of previous) process.on('uncaughtException', listener);
    }
    assert.deepEqual(traced, untraced);
    assert.ok(uncaught.length > 0, 'Node reported the subscriber faults');
  });

  it('the metric names are the documented ones', function () {
    assert.deepEqual(Object.values(METRICS).sort(), [
      'bearer_guard.authentication.duration',
      'bearer_guard.authentications',
      'bearer_guard.authorizations',
      'bearer_guard.circuit.state',
      'bearer_guard.introspection.duration',
      'bearer_guard.keys.loads',
      'bearer_guard.token_client.requests',
    ]);
  });
  it('introspection answers (active, inactive, outage, garbage, open circuit) are the same with and without a subscriber', async function () {
    const introspecting = async (): Promise<Record<string, Answer[]>> => {
      app = express();
      app.set('env', 'test');
      app.use(
        authenticate({
          issuer: stub.issuer,
          audience: stub.audience,
          timeout: 2000,
          introspection: {
            endpoint: stub.introspectionEndpoint,
            clientId: stub.introspectionClient.clientId,
            clientSecret: stub.introspectionClient.clientSecret,
            timeout: 2000,
            cache: false,
            breaker: { failureThreshold: 2, cooldown: 60_000 },
          },
        }),
      );
      app.get('/orders', (_request, response) => {
        response.json({ ok: true });
      });
      app.use(errorHandler({ onError: false }));
      const answers: Record<string, Answer[]> = {};
      const ask = async (name: string, token: string): Promise<void> => {
        const response = await fetch(`${base}/orders`, { headers: { authorization: `Bearer ${token}` } });
        (answers[name] ??= []).push({
          status: response.status,
          challenge: `${String(response.headers.get('www-authenticate'))} ${String(response.headers.get('retry-after'))}`,
          body: (await response.text()).replace(/"error_description":"[^"]*"/, ''),
        });
      };
      try {
        await ask('active', stub.issueOpaqueToken({ scope: 'orders:read' }));
        await ask('inactive', randomBytes(16).toString('hex'));
        await ask('expired', stub.issueOpaqueToken({ exp: nowSeconds() - 600 }));
        stub.setBehaviour('introspection', { mode: 'garbage' });
        await ask('garbage', stub.issueOpaqueToken());
        stub.setBehaviour('introspection', { mode: 'fail', status: 503 });
        await ask('outage', stub.issueOpaqueToken());
        await ask('open circuit', stub.issueOpaqueToken());
      } finally {
        stub.setBehaviour('introspection', { mode: 'ok' });
      }
      return answers;
    };
    const untraced = await introspecting();
    const reader = new TestReader();
    const unregister = registerInstrumentations({
      instrumentations: [new BearerGuardInstrumentation({ enabled: false })],
      meterProvider: new MeterProvider({ readers: [reader] }),
    });
    let traced: Record<string, Answer[]>;
    try {
      traced = await introspecting();
    } finally {
      unregister();
    }
    assert.deepEqual(traced, untraced);
    assert.equal(untraced['open circuit']?.[0]?.status, 503);
    const points = await collect(reader);
    const introspections = points.filter((point) => point.name === METRICS.introspectionDuration);
    assert.ok(introspections.length >= 3);
    for (const point of introspections) {
      assert.equal(point.attributes['bearer_guard.issuer'], stub.issuer);
    }
  });
});
