// Every failure the client can be driven into over HTTP, with the access token planted wherever a
// hostile or broken server can put it: no error we raise, no cause we chain and no event may carry
// the token, the client secret, the Basic credentials, the private key, the signed assertion, a
// DPoP proof or the DPoP private key.
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import { createTokenClient, type TokenClientOptions } from '../src/index.js';
import { json, startHttpStub, type HttpStub, type RecordedRequest } from './support/http-stub.js';
import { assertNoSecrets } from './support/secrets.js';

const SECRET = 'redaction-secret-7c1e9a04f2';
const ACCESS_TOKEN = 'planted-access-token-4b8d2f61e3';
/** A usable token response; `token_type` follows the client (`DPoP` for the DPoP rows). */
const ok = { access_token: ACCESS_TOKEN, token_type: 'Bearer', expires_in: 60 };
const otherType = (): string => (ok.token_type === 'DPoP' ? 'Bearer' : 'DPoP');

type Answer = (response: ServerResponse) => void;

/** Refuses the token on either scheme, so the Bearer and the DPoP rows both renew. */
const INVALID_TOKEN = 'Bearer error="invalid_token", DPoP error="invalid_token"';

/** The stub playing the token endpoint, the metadata and the backend at once. */
let server: HttpStub;

interface Scenario {
  name: string;
  /** The token endpoint's answer (and the metadata's, for `discovery`). */
  token: Answer;
  /** The backend's answer to `tokens.fetch`; by default 200. */
  backend?: Answer;
  /** Find the token endpoint by RFC 8414 discovery, whose answer is `token`. */
  discovery?: boolean;
  /** The token endpoint answers `ok` to the first request and `token` after it. */
  afterFirst?: boolean;
}

const html =
  (status: number, body: string): Answer =>
  (response) =>
    response.writeHead(status, { 'content-type': 'text/html' }).end(body);

const scenarios: Scenario[] = [
  { name: 'an access_token with CR LF', token: (r) => json(r, 200, { ...ok, access_token: `${ACCESS_TOKEN}\r\nx: 1` }) },
  { name: 'an access_token with a NUL', token: (r) => json(r, 200, { ...ok, access_token: `${ACCESS_TOKEN}\u0000` }) },
  { name: 'expires_in 1e308', token: (r) => json(r, 200, { ...ok, expires_in: 1e308 }) },
  { name: 'expires_in "12abc"', token: (r) => json(r, 200, { ...ok, expires_in: '12abc' }) },
  { name: 'the other token_type (DPoP / Bearer)', token: (r) => json(r, 200, { ...ok, token_type: otherType() }) },
  { name: 'token_type missing', token: (r) => json(r, 200, { ...ok, token_type: undefined }) },
  { name: 'token_type holding the token', token: (r) => json(r, 200, { ...ok, token_type: ACCESS_TOKEN }) },
  { name: 'scope as a number', token: (r) => json(r, 200, { ...ok, scope: 7 }) },
  { name: 'a form-encoded body', token: html(200, `access_token=${ACCESS_TOKEN}&token_type=bearer`) },
  { name: 'truncated JSON', token: html(200, `{"access_token":"${ACCESS_TOKEN}"`) },
  { name: 'a JSON array', token: (r) => json(r, 200, [ok]) },
  { name: 'a 201', token: (r) => json(r, 201, ok) },
  { name: 'a 204', token: (r) => r.writeHead(204).end() },
  { name: 'a 400 error with the token in it', token: (r) => json(r, 400, { ...ok, error: 'invalid_grant' }) },
  { name: 'a 400 without an error code', token: (r) => json(r, 400, ok) },
  { name: 'a 401 challenge with the token in the body', token: (r) => json(r, 401, { ...ok, error: 'invalid_client' }, { 'www-authenticate': 'Basic realm="as"' }) },
  { name: 'a 401 challenge without a body', token: (r) => r.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_client"' }).end() },
  { name: 'a 503 with the token in the body', token: (r) => json(r, 503, { ...ok, error: 'temporarily_unavailable' }) },
  { name: 'a 500 page with the token in it', token: html(500, `<p>${ACCESS_TOKEN}</p>`) },
  { name: 'a redirect to a URL with the token', token: (r) => r.writeHead(302, { location: `http://127.0.0.1:1/?t=${ACCESS_TOKEN}` }).end() },
  { name: 'a body over maxResponseBytes', token: (r) => json(r, 200, { ...ok, padding: ACCESS_TOKEN.repeat(200) }) },
  { name: 'no answer', token: () => undefined },
  { name: 'a reset connection', token: (r) => r.socket?.destroy() },
  { name: 'metadata for another issuer', discovery: true, token: (r) => json(r, 200, { issuer: 'https://evil.example', token_endpoint: `https://evil.example/${ACCESS_TOKEN}` }) },
  { name: 'metadata with a plain-http token endpoint', discovery: true, token: (r) => json(r, 200, { issuer: server.url, token_endpoint: `http://as.example/${ACCESS_TOKEN}` }) },
  { name: 'a 500 from discovery', discovery: true, token: html(500, ACCESS_TOKEN) },
  { name: 'a backend that resets the connection', token: (r) => json(r, 200, ok), backend: (r) => r.socket?.destroy() },
  { name: 'a backend 401 invalid_token, then a token endpoint refusing the renewal', afterFirst: true, token: (r) => json(r, 400, { ...ok, error: 'invalid_client' }), backend: (r) => json(r, 401, {}, { 'www-authenticate': INVALID_TOKEN }) },
  { name: 'a backend 401 invalid_token, then a token endpoint going silent', afterFirst: true, token: () => undefined, backend: (r) => json(r, 401, {}, { 'www-authenticate': INVALID_TOKEN }) },
  { name: 'use_dpop_nonce twice, the token as nonce', token: (r) => json(r, 400, { error: 'use_dpop_nonce' }, { 'dpop-nonce': ACCESS_TOKEN }) },
  { name: 'a 401 DPoP use_dpop_nonce challenge from the token endpoint', token: (r) => json(r, 401, { error: 'use_dpop_nonce' }, { 'www-authenticate': 'DPoP error="use_dpop_nonce"', 'dpop-nonce': ACCESS_TOKEN }) },
  { name: 'a backend asking for a nonce, then refusing the token, then a refused renewal', afterFirst: true, token: (r) => json(r, 400, { ...ok, error: 'invalid_client' }), backend: (r) => json(r, 401, {}, { 'www-authenticate': 'DPoP error="use_dpop_nonce", DPoP error="invalid_token", Bearer error="invalid_token"', 'dpop-nonce': ACCESS_TOKEN }) },
]; // prettier-ignore

/** The messages of an error and of every cause below it. */
function causeMessages(error: unknown): string[] {
  const messages: string[] = [];
  for (let current = error; current instanceof Error; current = current.cause) {
    messages.push(String(current), current.message);
  }
  return messages;
}

describe('no token or secret in any error, cause or event', function () {
  this.timeout(20_000);
  let scenario: Scenario;
  let tokenRequests: number;

  before(async () => {
    server = await startHttpStub((request, response) => {
      if (request.path.startsWith('/backend')) {
        (scenario.backend ?? ((r: ServerResponse) => json(r, 200, {})))(response);
      } else if (request.path.startsWith('/.well-known/')) {
        if (scenario.discovery) scenario.token(response);
        else json(response, 200, { issuer: server.url, token_endpoint: `${server.url}/token` });
      } else {
        tokenRequests++;
        if (scenario.afterFirst === true && tokenRequests === 1) json(response, 200, ok);
        else scenario.token(response);
      }
    });
  });
  after(async () => {
    await server.close();
  });

  const clientKey = generateKeyPair('ES256', { extractable: true });
  const dpopKey = generateKeyPair('ES256', { extractable: true });
  const methods: [string, () => Promise<Partial<TokenClientOptions>>][] = [
    ['client_secret_basic', () => Promise.resolve({ clientSecret: SECRET })],
    ['client_secret_post', () => Promise.resolve({ clientSecret: SECRET, authMethod: 'client_secret_post' })],
    ['private_key_jwt', async () => ({ privateKey: await exportJWK((await clientKey).privateKey) })],
    ['client_secret_basic with DPoP', async () => ({ clientSecret: SECRET, dpop: await dpopKey })],
    [
      'private_key_jwt with a generated DPoP key',
      async () => ({ privateKey: await exportJWK((await clientKey).privateKey), dpop: true }),
    ],
  ];

  /** What a request to the token endpoint gave away: the Basic value, the secret, the assertion. */
  function credentialsIn(request: RecordedRequest): string[] {
    const body = new URLSearchParams(request.body);
    const sent = [
      request.headers.authorization,
      body.get('client_secret'),
      body.get('client_assertion'),
      request.headers.dpop,
    ];
    return sent.filter((value): value is string => typeof value === 'string' && value !== '');
  }

  /** Drive the client into `current` and check everything it produced. */
  async function run(current: Scenario, method: string, credentials: Partial<TokenClientOptions>) {
    scenario = current;
    tokenRequests = 0;
    ok.token_type = credentials.dpop === undefined ? 'Bearer' : 'DPoP';
    const before = server.requests.length;
    const base = {
      clientId: 'gateway',
      timeout: 300,
      maxResponseBytes: 2048,
      retry: { attempts: 2, minDelay: 5, maxDelay: 10 },
      ...credentials,
    };
    const where =
      current.discovery === true ? { issuer: server.url } : { tokenEndpoint: `${server.url}/token` };
    const tokens = createTokenClient({ ...base, ...where });
    const events: unknown[] = [];
    for (const name of ['token.renewed', 'token.failed', 'token.retrying'] as const) {
      tokens.on(name, (event) => events.push({ name, ...event }));
    }
    const failures: unknown[] = [];
    const catchIt = (caught: unknown): void => {
      failures.push(caught);
    };
    if (current.backend === undefined) await tokens.getToken().catch(catchIt);
    await tokens.fetch(`${server.url}/backend`).catch(catchIt);
    assert.ok(failures.length >= 1, 'the scenario ends in an error');

    const secrets = [SECRET, ACCESS_TOKEN];
    for (const request of server.requests.slice(before)) {
      if (!request.path.startsWith('/backend')) secrets.push(...credentialsIn(request));
      // Every DPoP proof, to the token endpoint and to the backend.
      if (typeof request.headers.dpop === 'string') secrets.push(request.headers.dpop);
    }
    if (method.startsWith('private_key_jwt'))
      secrets.push((await exportJWK((await clientKey).privateKey)).d ?? '?');
    if (credentials.dpop !== undefined) secrets.push((await exportJWK((await dpopKey).privateKey)).d ?? '?');
    for (const failure of failures) {
      assertNoSecrets(failure, secrets);
      for (const text of causeMessages(failure)) {
        for (const secret of secrets) assert.ok(!text.includes(secret), `${secret.slice(0, 6)}… in ${text}`);
      }
    }
    const eventText = JSON.stringify(events);
    for (const secret of secrets) assert.ok(!eventText.includes(secret), `${secret.slice(0, 6)}… in events`);
    assertNoSecrets(events, secrets);
  }

  // One test per method over the whole table, so a leak anywhere fails it; the message names the row.
  for (const [method, credentials] of methods) {
    it(`${method}: ${String(scenarios.length)} failures over HTTP`, async () => {
      for (const current of scenarios) {
        try {
          await run(current, method, await credentials());
        } catch (error) {
          assert.fail(`${current.name}: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
    });
  }
});
