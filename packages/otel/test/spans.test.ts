import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { createTokenClient } from '@bearer-guard/client';
import { createGuard } from '@bearer-guard/core';
import { BearerGuardInstrumentation } from '@bearer-guard/otel';
import { startAuthorizationServer, type AuthorizationServerStub } from '@bearer-guard/testkit';
import { SpanStatusCode } from '@opentelemetry/api';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';

/**
 * The outbound spans against real HTTP servers on 127.0.0.1, in the HTTP client semantic
 * conventions: status ERROR and `error.type` for a failed call or a 4xx/5xx answer, the status code,
 * the method, the server and the URL (its query values redacted).
 */
describe('@bearer-guard/otel: outbound spans (HTTP client semantic conventions)', function () {
  let stub: AuthorizationServerStub;
  let upstream: Server;
  let base: string;
  let port: number;
  let spans: InMemorySpanExporter;
  let unregister: () => void;

  before(async function () {
    stub = await startAuthorizationServer();
    // The JWK Set at /jwks (whatever the query), a 500 at /jwks-500, a JSON body that does not
    // parse at /jwks-garbled, a 400 invalid_client at /token; anything else is a 404.
    upstream = createServer((request, response) => {
      const path = new URL(request.url ?? '/', 'http://localhost').pathname;
      const json = (status: number, body: string): void => {
        response.writeHead(status, { 'content-type': 'application/json' }).end(body);
      };
      if (path === '/jwks') json(200, JSON.stringify(stub.jwks()));
      else if (path === '/jwks-500') json(500, '{}');
      else if (path === '/jwks-garbled') json(200, '{"keys": [');
      else if (path === '/token') json(400, JSON.stringify({ error: 'invalid_client' }));
      else json(404, '{}');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    port = (upstream.address() as AddressInfo).port;
    base = `http://127.0.0.1:${String(port)}`;
  });

  after(async function () {
    await stub.close();
    upstream.closeAllConnections();
    await new Promise((resolve) => upstream.close(resolve));
  });

  beforeEach(function () {
    spans = new InMemorySpanExporter();
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
    unregister = registerInstrumentations({
      instrumentations: [new BearerGuardInstrumentation()],
      tracerProvider,
    });
  });

  afterEach(function () {
    unregister();
  });

  const operation = (name: string): ReadableSpan[] =>
    spans.getFinishedSpans().filter((span) => span.attributes['bearer_guard.operation'] === name);

  async function ready(options: { issuer?: string; jwksUri?: string }): Promise<void> {
    await createGuard({ issuer: stub.issuer, audience: stub.audience, timeout: 2000, ...options }).ready();
  }

  it('a JWK Set load: 200, no error, the method, server, port and the URL with its query values redacted', async function () {
    await ready({ jwksUri: `${base}/jwks?api_key=k3y-77ff&tenant=acme` });
    const [span, ...others] = operation('keys.load');
    assert.ok(span !== undefined);
    assert.deepEqual(others, []);
    assert.equal(span.name, 'GET');
    assert.equal(span.kind, 2 /* SpanKind.CLIENT */);
    assert.equal(span.status.code, SpanStatusCode.UNSET);
    assert.deepEqual(
      {
        method: span.attributes['http.request.method'],
        status: span.attributes['http.response.status_code'],
        address: span.attributes['server.address'],
        port: span.attributes['server.port'],
        url: span.attributes['url.full'],
        errorType: span.attributes['error.type'],
      },
      {
        method: 'GET',
        status: 200,
        address: '127.0.0.1',
        port,
        url: `${base}/jwks?api_key=REDACTED&tenant=REDACTED`,
        errorType: undefined,
      },
    );
    assert.ok(!JSON.stringify(span.attributes).includes('k3y-77ff'));
  });

  it('a 5xx answer: status ERROR, error.type the status code', async function () {
    await assert.rejects(ready({ jwksUri: `${base}/jwks-500` }), {
      code: 'ERR_BEARER_CONFIG_ISSUER_UNUSABLE',
    });
    const [span] = operation('keys.load');
    assert.ok(span !== undefined);
    assert.equal(span.status.code, SpanStatusCode.ERROR);
    assert.equal(span.attributes['error.type'], '500');
    assert.equal(span.attributes['http.response.status_code'], 500);
    assert.equal(span.attributes['url.full'], `${base}/jwks-500`);
  });

  it('a 200 whose body is no JSON: status ERROR, error.type the reason, the status code kept', async function () {
    await assert.rejects(ready({ jwksUri: `${base}/jwks-garbled` }), {
      code: 'ERR_BEARER_CONFIG_ISSUER_UNUSABLE',
    });
    const [span] = operation('keys.load');
    assert.ok(span !== undefined);
    assert.equal(span.status.code, SpanStatusCode.ERROR);
    assert.equal(span.attributes['error.type'], 'invalid-json');
    assert.equal(span.attributes['http.response.status_code'], 200);
  });

  it('a transport error (connection refused): status ERROR, error.type network, no status code', async function () {
    // Port 2: nothing listens there.
    await assert.rejects(ready({ jwksUri: 'http://127.0.0.1:2/jwks' }), {
      code: 'ERR_BEARER_CONFIG_ISSUER_UNUSABLE',
    });
    const [span] = operation('keys.load');
    assert.ok(span !== undefined);
    assert.equal(span.status.code, SpanStatusCode.ERROR);
    assert.equal(span.attributes['error.type'], 'network');
    assert.equal(span.attributes['http.response.status_code'], undefined);
    assert.equal(span.attributes['server.port'], 2);
  });

  it('discovery: 200 at the RFC 8414 location; 404 at both locations is one ERROR span of the last request', async function () {
    await ready({});
    const [found] = operation('discovery');
    assert.ok(found !== undefined);
    assert.equal(found.status.code, SpanStatusCode.UNSET);
    assert.equal(found.attributes['http.response.status_code'], 200);
    assert.equal(found.attributes['url.full'], `${stub.issuer}/.well-known/oauth-authorization-server`);
    assert.equal(found.attributes['server.address'], '127.0.0.1');

    spans.reset();
    await assert.rejects(ready({ issuer: `${base}/nowhere` }), { code: 'ERR_BEARER_CONFIG_ISSUER_UNUSABLE' });
    const [missing, ...others] = operation('discovery');
    assert.ok(missing !== undefined);
    assert.deepEqual(others, []);
    assert.equal(missing.status.code, SpanStatusCode.ERROR);
    assert.equal(missing.attributes['error.type'], '404');
    assert.equal(missing.attributes['http.response.status_code'], 404);
    assert.equal(missing.attributes['url.full'], `${base}/nowhere/.well-known/openid-configuration`);
    assert.equal(missing.attributes['server.port'], port);
  });

  it('introspection: a 200 answer is no error; a 401 is ERROR with error.type 401', async function () {
    const guard = createGuard({
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
    await guard.verify(stub.issueOpaqueToken({ scope: 'orders:read' }));
    const [answered] = operation('introspection');
    assert.ok(answered !== undefined);
    assert.equal(answered.name, 'POST');
    assert.equal(answered.status.code, SpanStatusCode.UNSET);
    assert.equal(answered.attributes['http.response.status_code'], 200);
    assert.equal(answered.attributes['http.request.method'], 'POST');
    assert.equal(answered.attributes['url.full'], stub.introspectionEndpoint);

    spans.reset();
    const wrongSecret = createGuard({
      issuer: stub.issuer,
      audience: stub.audience,
      timeout: 2000,
      introspection: {
        clientId: stub.introspectionClient.clientId,
        clientSecret: 'not-the-secret-0c0c',
        endpoint: stub.introspectionEndpoint,
        timeout: 2000,
      },
    });
    await assert.rejects(wrongSecret.verify(stub.issueOpaqueToken()), {
      code: 'ERR_BEARER_INTROSPECTION_UNAVAILABLE',
    });
    const [refused] = operation('introspection');
    assert.ok(refused !== undefined);
    assert.equal(refused.status.code, SpanStatusCode.ERROR);
    assert.equal(refused.attributes['error.type'], '401');
    assert.equal(refused.attributes['http.response.status_code'], 401);
  });

  it('a token request answered 400: ERROR, error.type 400, the status code', async function () {
    const tokens = createTokenClient({
      tokenEndpoint: `${base}/token`,
      clientId: 'svc',
      clientSecret: 'secret-4242',
      retry: { attempts: 1 },
    });
    await assert.rejects(tokens.getToken());
    const [span] = operation('token_request');
    assert.ok(span !== undefined);
    assert.equal(span.name, 'POST');
    assert.equal(span.status.code, SpanStatusCode.ERROR);
    assert.equal(span.attributes['error.type'], '400');
    assert.equal(span.attributes['http.response.status_code'], 400);
    assert.equal(span.attributes['url.full'], `${base}/token`);
    assert.equal(span.attributes['server.port'], port);
  });
});
