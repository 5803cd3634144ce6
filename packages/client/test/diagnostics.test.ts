import assert from 'node:assert/strict';
import { tracingChannel } from 'node:diagnostics_channel';

import { createTokenClient, TOKEN_REQUEST_CHANNEL } from '@bearer-guard/client';

import { json, startHttpStub, type HttpStub } from './support/http-stub.js';

const EVENTS = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const;
const ACCESS_TOKEN = 'at-5c0ffee-secret-token';
const SECRET = 'client-secret-9f3e2a';

describe('client: the bearer-guard:token-client.request tracing channel', function () {
  let server: HttpStub;
  const seen: { event: string; message: Record<string, unknown> }[] = [];
  const traced = tracingChannel(TOKEN_REQUEST_CHANNEL);
  const handlers = Object.fromEntries(
    EVENTS.map((event) => [event, (message: object) => seen.push({ event, message: { ...message } })]),
  ) as unknown as Parameters<typeof traced.subscribe>[0];

  before(async function () {
    server = await startHttpStub((_request, response, index) =>
      index === 0
        ? json(response, 200, { access_token: ACCESS_TOKEN, token_type: 'Bearer', expires_in: 3600 })
        : json(response, 400, { error: 'invalid_client' }),
    );
    traced.subscribe(handlers);
  });

  after(async function () {
    traced.unsubscribe(handlers);
    await server.close();
  });

  it('publishes each token request (issued, then refused) without the token or the secret', async function () {
    const tokenEndpoint = `${server.url}/token`;
    const tokens = createTokenClient({
      tokenEndpoint,
      clientId: 'svc',
      clientSecret: SECRET,
      retry: { attempts: 1 },
    });
    await tokens.getToken();
    assert.deepEqual(
      seen.map((entry) => entry.event),
      ['start', 'end', 'asyncStart', 'asyncEnd'],
    );
    assert.deepEqual(seen.at(-1)?.message, {
      issuer: undefined,
      endpoint: tokenEndpoint,
      grantType: 'client_credentials',
      attempt: 1,
      outcome: 'issued',
      code: undefined,
      status: 200,
      jkt: undefined,
    });
    seen.length = 0;
    await assert.rejects(tokens.getToken({ forceRenewal: true }), { code: 'ERR_TOKEN_CLIENT_TOKEN_ERROR' });
    assert.deepEqual(
      seen.map((entry) => entry.event),
      ['start', 'end', 'error', 'asyncStart', 'asyncEnd'],
    );
    assert.deepEqual(seen.at(-1)?.message, {
      issuer: undefined,
      endpoint: tokenEndpoint,
      grantType: 'client_credentials',
      attempt: 1,
      outcome: 'failed',
      code: 'ERR_TOKEN_CLIENT_TOKEN_ERROR',
      status: 400,
      jkt: undefined,
    });
    const text = JSON.stringify(seen);
    assert.ok(!text.includes(ACCESS_TOKEN));
    assert.ok(!text.includes(SECRET));
  });
});
