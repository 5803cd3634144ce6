import assert from 'node:assert/strict';
import { subscribe, tracingChannel, unsubscribe } from 'node:diagnostics_channel';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { createTokenClient } from '@bearer-guard/client';
import { CHANNELS, createGuard } from '@bearer-guard/core';
import { BearerGuardInstrumentation } from '@bearer-guard/otel';
import {
  createDpopProof,
  generateDpopKey,
  startAuthorizationServer,
  type AuthorizationServerStub,
} from '@bearer-guard/testkit';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { MeterProvider, type DataPoint } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';

import { TestReader } from './support.js';

const EVENTS = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const;
const TRACED = [
  CHANNELS.authenticate,
  CHANNELS.keysLoad,
  CHANNELS.discovery,
  CHANNELS.introspection,
  'bearer-guard:token-client.request',
];
const PLAIN = [CHANNELS.authorize, CHANNELS.circuitState];

/** Servers that quote what they were sent back in their errors: a token, a client secret. */
async function listen(handler: (body: string, response: ServerResponse) => void): Promise<Server> {
  const server = createServer((request: IncomingMessage, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      handler(`${body} ${String(request.headers.authorization)}`, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const urlOf = (server: Server, path: string): string =>
  `http://127.0.0.1:${String((server.address() as AddressInfo).port)}${path}`;

describe('@bearer-guard/otel: nothing secret in a channel payload, span or metric, even when the servers quote it', function () {
  let stub: AuthorizationServerStub;
  let introspection: Server;
  let token: Server;

  before(async function () {
    stub = await startAuthorizationServer();
    // 500 with the request (token, client credentials) in the body and a header.
    introspection = await listen((quoted, response) => {
      response.writeHead(500, { 'content-type': 'application/json', 'x-echo': encodeURIComponent(quoted) });
      response.end(JSON.stringify({ error: 'server_error', error_description: quoted }));
    });
    token = await listen((quoted, response) => {
      response.writeHead(401, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: 'invalid_client', error_description: quoted }));
    });
  });

  after(async function () {
    for (const server of [introspection, token]) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    await stub.close();
  });

  it('tokens, sub, jti, scopes, proofs, thumbprints and client secrets appear nowhere', async function () {
    const seen: unknown[] = [];
    const record = (name: string) => (message: unknown) => {
      seen.push([name, structuredClone(message)]);
    };
    const names = [...TRACED.flatMap((name) => EVENTS.map((event) => `tracing:${name}:${event}`)), ...PLAIN];
    const listeners = names.map((name) => {
      const listener = record(name);
      subscribe(name, listener);
      return () => {
        unsubscribe(name, listener);
      };
    });
    const reader = new TestReader();
    const spans = new InMemorySpanExporter();
    const unregister = registerInstrumentations({
      instrumentations: [new BearerGuardInstrumentation({ enabled: false })],
      meterProvider: new MeterProvider({ readers: [reader] }),
      tracerProvider: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }),
    });
    assert.ok(tracingChannel(CHANNELS.authenticate).hasSubscribers);

    const secrets: string[] = [];
    const publicUrl = 'https://orders.example';
    try {
      const key = await generateDpopKey();
      const guard = createGuard({
        issuer: stub.issuer,
        audience: stub.audience,
        jwksUri: `${stub.jwksUri}?key=jwks-key-2f2f`,
        timeout: 2000,
        publicUrl,
        dpop: {},
        introspection: {
          endpoint: urlOf(introspection, '/introspect?key=api-key-5f5f'),
          clientId: 'rs-client-id',
          clientSecret: 'introspection-secret-6e6e',
          timeout: 2000,
        },
      });
      secrets.push('jwks-key-2f2f', 'api-key-5f5f', 'introspection-secret-6e6e', key.cnf.cnf.jkt);

      const accepted = await stub.sign({ sub: 'sub-1a1a', jti: 'jti-2b2b', scope: 'orders:read scope-3c3c' });
      const bound = await stub.sign({ ...key.cnf, sub: 'sub-4d4d', jti: 'jti-5e5e' });
      const proof = await createDpopProof(key, {
        htm: 'GET',
        htu: `${publicUrl}/orders`,
        accessToken: bound,
        jti: 'proof-jti-6f6f',
      });
      const expired = await stub.sign({ sub: 'sub-7a7a', jti: 'jti-8b8b', exp: 1 });
      const opaque = 'opaque-token-9c9c9c9c9c9c';
      secrets.push(accepted, bound, proof, expired, opaque, 'sub-1a1a', 'jti-2b2b', 'scope-3c3c');
      secrets.push('sub-4d4d', 'jti-5e5e', 'proof-jti-6f6f', 'sub-7a7a', 'jti-8b8b');
      secrets.push(...[accepted, bound, proof].flatMap((jwt) => jwt.split('.')));

      const principal = await guard.verify(accepted);
      assert.throws(() => {
        guard.requireScopes(principal, ['admin'], 'all');
      });
      const dpopRequest = {
        method: 'GET',
        url: '/orders',
        headers: { authorization: `DPoP ${bound}`, dpop: proof },
      };
      await guard.authenticate(dpopRequest);
      await assert.rejects(guard.authenticate(dpopRequest), { code: 'ERR_BEARER_DPOP_PROOF_REPLAYED' });
      await assert.rejects(guard.verify(expired), { code: 'ERR_BEARER_TOKEN_EXPIRED' });
      await assert.rejects(guard.verify(opaque), { code: 'ERR_BEARER_INTROSPECTION_UNAVAILABLE' });

      const tokens = createTokenClient({
        tokenEndpoint: urlOf(token, '/token?tenant=tenant-secret-0d0d'),
        clientId: 'svc',
        clientSecret: 'client-secret-1e1e',
        retry: { attempts: 1 },
      });
      secrets.push('tenant-secret-0d0d', 'client-secret-1e1e');
      await assert.rejects(tokens.getToken());
    } finally {
      unregister();
      for (const stop of listeners) stop();
    }

    const { resourceMetrics } = await reader.collect();
    const points = resourceMetrics.scopeMetrics.flatMap((scope) =>
      scope.metrics.flatMap((metric) =>
        (metric.dataPoints as DataPoint<unknown>[]).map((point) => [
          metric.descriptor.name,
          point.attributes,
        ]),
      ),
    );
    const finished = spans.getFinishedSpans().map((span) => ({
      name: span.name,
      attributes: span.attributes,
      events: span.events,
      status: span.status,
      links: span.links,
    }));
    assert.ok(finished.some((span) => span.attributes['bearer_guard.operation'] === 'introspection'));
    assert.ok(finished.some((span) => span.attributes['bearer_guard.operation'] === 'token_request'));
    assert.ok(seen.length > 20);
    for (const [what, data] of [
      ['a channel payload', seen],
      ['a metric point', points],
      ['a span', finished],
    ] as const) {
      const text = JSON.stringify(data);
      for (const secret of secrets) {
        assert.ok(!text.includes(secret), `${what} holds ${secret.slice(0, 16)}…`);
      }
    }
  });
});
