import assert from 'node:assert/strict';
import {
  createTokenClient,
  TokenRequestError,
  type PrivateKeyInput,
  type TokenClientEventMap,
  type TokenClientOptions,
} from '../src/index.js';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { jwtVerify } from 'jose';
import { json, startHttpStub, type HttpStub } from './support/http-stub.js';
import { assertNoSecrets } from './support/secrets.js';

const SECRET = 'stub-secret-a41f9c3e7b';
const ACCESS_TOKEN = 'stub-access-token-5d2e8f10';
const fastRetry = { minDelay: 5, maxDelay: 10 };

describe('token requests (RFC 6749 §4.4) against a scripted token endpoint', () => {
  let as: HttpStub;
  let options: TokenClientOptions;

  beforeEach(async () => {
    as = await startHttpStub((_request, response) => {
      json(response, 200, { access_token: ACCESS_TOKEN, token_type: 'Bearer', expires_in: 120 });
    });
    options = {
      tokenEndpoint: `${as.url}/token`,
      clientId: 'gateway',
      clientSecret: SECRET,
      retry: fastRetry,
    };
  });
  afterEach(async () => {
    await as.close();
  });

  async function failure(client = createTokenClient(options)): Promise<TokenRequestError> {
    const error: unknown = await client.getToken().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof TokenRequestError, `expected a TokenRequestError, got ${String(error)}`);
    assertNoSecrets(error, [SECRET, ACCESS_TOKEN]);
    return error;
  }

  it('sends grant_type, sorted scope, every resource, and client_secret_basic', async () => {
    const tokens = createTokenClient({
      ...options,
      clientId: 'gate way',
      scope: 'orders:write orders:read',
      resource: ['https://orders.example', 'https://billing.example'],
    });
    const token = await tokens.getToken();
    assert.equal(token.access_token, ACCESS_TOKEN);
    assert.equal(token.token_type, 'Bearer');
    const [request] = as.requests;
    assert.equal(as.requests.length, 1);
    assert.equal(request?.method, 'POST');
    assert.equal(request.path, '/token');
    assert.deepEqual(
      [...new URLSearchParams(request.body)],
      [
        ['scope', 'orders:read orders:write'],
        ['resource', 'https://billing.example'],
        ['resource', 'https://orders.example'],
        ['grant_type', 'client_credentials'],
      ],
    );
    // RFC 6749 §2.3.1: client_id and secret are form-urlencoded, then Basic-encoded; decode as a server does.
    const [scheme, credentials] = String(request.headers.authorization).split(' ');
    assert.equal(scheme, 'Basic');
    const [id, secret] = Buffer.from(credentials ?? '', 'base64')
      .toString('utf8')
      .split(':');
    const decode = (part = '') => decodeURIComponent(part.replaceAll('+', ' '));
    assert.deepEqual([decode(id), decode(secret)], ['gate way', SECRET]);
    assert.match(String(request.headers['content-type']), /^application\/x-www-form-urlencoded/);
  });

  it('sends client_secret_post credentials in the body and no Authorization header', async () => {
    await createTokenClient({ ...options, authMethod: 'client_secret_post' }).getToken();
    const body = new URLSearchParams(as.requests[0]?.body);
    assert.equal(body.get('client_id'), 'gateway');
    assert.equal(body.get('client_secret'), SECRET);
    assert.equal(as.requests[0]?.headers.authorization, undefined);
  });

  it('gives a response without expires_in the default lifetime', async () => {
    as.handle = (_request, response) => {
      json(response, 200, { access_token: ACCESS_TOKEN, token_type: 'bearer' });
    };
    const renewed: TokenClientEventMap['token.renewed'][] = [];
    const tokens = createTokenClient({ ...options, defaultExpiresIn: 120 }).on('token.renewed', (event) => {
      renewed.push(event);
    });
    const token = await tokens.getToken();
    // 120 s less the 1 s allowance for whole-second expires_in, rounded down.
    assert.equal(token.expires_in, 118);
    assert.ok(Math.abs(token.expiresAt - (Date.now() + 119_000)) < 1000);
    assert.deepEqual(
      renewed.map((event) => [event.expiresIn, event.defaulted, event.reason]),
      [[120, true, 'initial']],
    );
  });

  for (const tokenType of ['mac', 'DPoP', 'N_A']) {
    it(`refuses token_type ${tokenType} with ERR_TOKEN_CLIENT_INVALID_RESPONSE, without retrying`, async () => {
      as.handle = (_request, response) => {
        json(response, 200, { access_token: ACCESS_TOKEN, token_type: tokenType, expires_in: 60 });
      };
      const error = await failure();
      assert.equal(error.code, 'ERR_TOKEN_CLIENT_INVALID_RESPONSE');
      assert.match(error.message, new RegExp(tokenType, 'i'));
      assert.equal(as.requests.length, 1);
    });
  }

  const garbage: [string, (response: ServerResponse) => ServerResponse][] = [
    ['an HTML page', (response) => response.writeHead(200, { 'content-type': 'text/html' }).end('<html>hi</html>')],
    ['JSON without access_token', (response) => json(response, 200, { token_type: 'Bearer' })],
    ['a JSON array', (response) => json(response, 200, [ACCESS_TOKEN])],
    ['a negative expires_in', (response) => json(response, 200, { access_token: ACCESS_TOKEN, token_type: 'Bearer', expires_in: -5 })],
    ['expires_in 0', (response) => json(response, 200, { access_token: ACCESS_TOKEN, token_type: 'Bearer', expires_in: 0 })],
    ['a 404 page', (response) => response.writeHead(404, { 'content-type': 'text/plain' }).end('not found')],
  ]; // prettier-ignore
  for (const [name, answer] of garbage) {
    it(`turns ${name} into ERR_TOKEN_CLIENT_INVALID_RESPONSE after one request`, async () => {
      as.handle = (_request, response) => {
        answer(response);
      };
      const error = await failure();
      assert.equal(error.code, 'ERR_TOKEN_CLIENT_INVALID_RESPONSE');
      assert.equal(error.step, 'token');
      assert.equal(as.requests.length, 1);
    });
  }

  // RFC 6749 §5.1 / Appendix A.14: a whole number of seconds. Each of these was taken before, some
  // as a lifetime of forever (1e308 → expiresAt Infinity), some through parseFloat ("12abc" → 12).
  const badLifetimes: unknown[] = [1e308, 31_536_001, 2.5, '12abc', '1e308', ' 60'];
  for (const expiresIn of badLifetimes) {
    it(`refuses expires_in ${JSON.stringify(expiresIn)} with ERR_TOKEN_CLIENT_INVALID_RESPONSE, without retrying`, async () => {
      as.handle = (_request, response) => {
        json(response, 200, { access_token: ACCESS_TOKEN, token_type: 'Bearer', expires_in: expiresIn });
      };
      const failed: TokenClientEventMap['token.failed'][] = [];
      const error = await failure(
        createTokenClient(options).on('token.failed', (event) => failed.push(event)),
      );
      assert.equal(error.code, 'ERR_TOKEN_CLIENT_INVALID_RESPONSE');
      assert.match(error.message, /expires_in/);
      assert.equal(as.requests.length, 1);
      assert.equal(failed.length, 1);
    });
  }

  it('takes expires_in up to one year, and as a string of digits (Azure AD v1, AD FS)', async () => {
    const lifetimes: unknown[] = [31_536_000, '3600', 31_536_001];
    as.handle = (_request, response, index) => {
      json(response, 200, { access_token: ACCESS_TOKEN, token_type: 'Bearer', expires_in: lifetimes[index] });
    };
    const tokens = createTokenClient(options);
    const year = await tokens.getToken();
    assert.ok(year.expires_in > 31_535_990 && year.expires_in < 31_536_000, String(year.expires_in));
    const hour = await tokens.getToken({ forceRenewal: true });
    assert.ok(hour.expires_in > 3590 && hour.expires_in < 3600, String(hour.expires_in));
    // One second past the bound, and the valid cached token stays out of the error.
    await assert.rejects(tokens.getToken({ forceRenewal: true }), {
      code: 'ERR_TOKEN_CLIENT_INVALID_RESPONSE',
    });
  });

  // RFC 6749 Appendix A.12: access-token = 1*VSCHAR (%x20-7E). A CR LF made fetch() throw an error
  // quoting the whole Authorization header, token included.
  const badTokens: [string, string][] = [
    ['a CR LF', `${ACCESS_TOKEN}\r\nx-injected: 1`],
    ['a NUL', `${ACCESS_TOKEN}\u0000`],
    ['a tab', `${ACCESS_TOKEN}\t`],
    ['a non-ASCII letter', `${ACCESS_TOKEN}é`],
  ];
  for (const [name, accessToken] of badTokens) {
    it(`refuses an access_token with ${name}, and fetch sends nothing`, async () => {
      as.handle = (request, response) => {
        if (request.path === '/token') {
          json(response, 200, { access_token: accessToken, token_type: 'Bearer', expires_in: 60 });
        } else {
          response.writeHead(200).end();
        }
      };
      const tokens = createTokenClient(options);
      const error = await failure(tokens);
      assert.equal(error.code, 'ERR_TOKEN_CLIENT_INVALID_RESPONSE');
      assert.match(error.message, /access_token/);
      const fetchError: unknown = await tokens.fetch(`${as.url}/orders`).catch((caught: unknown) => caught);
      assert.ok(fetchError instanceof TokenRequestError, String(fetchError));
      assert.equal(fetchError.code, 'ERR_TOKEN_CLIENT_INVALID_RESPONSE');
      assertNoSecrets(fetchError, [SECRET, ACCESS_TOKEN]);
      assert.deepEqual(
        as.requests.map((request) => request.path),
        ['/token', '/token'],
      );
    });
  }

  it('names a refused token_type only when it looks like one, so a hostile one cannot flood or forge log lines', async () => {
    as.handle = (_request, response) => {
      const tokenType = `${'x'.repeat(50_000)}\nlevel=info msg="forged"`;
      json(response, 200, { access_token: ACCESS_TOKEN, token_type: tokenType, expires_in: 60 });
    };
    const error = await failure();
    assert.equal(error.code, 'ERR_TOKEN_CLIENT_INVALID_RESPONSE');
    assert.ok(error.message.length < 200, `${String(error.message.length)} characters`);
    assert.doesNotMatch(error.message, /\n/);
  });

  it('names the server error code of an RFC 6749 §5.2 answer, without retrying', async () => {
    as.handle = (_request, response) => {
      json(response, 400, { error: 'invalid_scope', error_description: 'orders:delete is not allowed' });
    };
    const error = await failure();
    assert.equal(error.code, 'ERR_TOKEN_CLIENT_TOKEN_ERROR');
    assert.equal(error.error, 'invalid_scope');
    assert.equal(error.error_description, 'orders:delete is not allowed');
    assert.equal(error.status, 400);
    assert.equal(error.retryable, false);
    assert.equal(as.requests.length, 1);
  });

  it('names a malformed RFC 6749 §5.2 error code in no message, whether in the body or the challenge', async () => {
    const hostile = `${'x'.repeat(3000)}\nlevel=error msg="forged"`;
    const answers: ((response: ServerResponse) => ServerResponse)[] = [
      (response) => json(response, 400, { error: hostile }),
      (response) => json(response, 401, { error: hostile }, { 'www-authenticate': 'Basic realm="as"' }),
      (response) =>
        response.writeHead(401, { 'www-authenticate': `Bearer error="${'y'.repeat(3000)}"` }).end(),
    ];
    for (const answer of answers) {
      as.handle = (_request, response) => {
        answer(response);
      };
      const error = await failure();
      assert.equal(error.code, 'ERR_TOKEN_CLIENT_TOKEN_ERROR');
      assert.match(error.message, /a malformed error code$/);
      assert.ok(error.message.length < 100, `${String(error.message.length)} characters`);
      assert.ok(error.error !== undefined && error.error.length >= 3000, 'the property keeps what was sent');
    }
  });

  it('reads invalid_client from a 401 with a WWW-Authenticate challenge', async () => {
    as.handle = (_request, response) => {
      json(response, 401, { error: 'invalid_client' }, { 'www-authenticate': 'Basic realm="as"' });
    };
    const error = await failure();
    assert.deepEqual(
      [error.code, error.error, error.status],
      ['ERR_TOKEN_CLIENT_TOKEN_ERROR', 'invalid_client', 401],
    );
  });

  it('retries 5xx exactly `retry.attempts` times, then fails with ERR_TOKEN_CLIENT_UNAVAILABLE', async () => {
    as.handle = (_request, response) => {
      json(response, 503, { error: 'temporarily_unavailable' });
    };
    const retrying: number[] = [];
    const failed: TokenClientEventMap['token.failed'][] = [];
    const tokens = createTokenClient({ ...options, retry: { ...fastRetry, attempts: 4 } })
      .on('token.retrying', (event) => retrying.push(event.attempt))
      .on('token.failed', (event) => failed.push(event));
    const error = await failure(tokens);
    assert.equal(error.code, 'ERR_TOKEN_CLIENT_UNAVAILABLE');
    assert.equal(error.error, 'temporarily_unavailable');
    assert.equal(error.status, 503);
    assert.equal(as.requests.length, 4);
    assert.deepEqual(retrying, [1, 2, 3]);
    assert.deepEqual(
      failed.map((event) => [event.attempts, event.servingCachedToken, event.reason]),
      [[4, false, 'initial']],
    );
    assertNoSecrets(failed, [SECRET, ACCESS_TOKEN]);
  });

  it('recovers when a retry succeeds', async () => {
    as.handle = (_request, response, index) => {
      if (index < 2) response.writeHead(index === 0 ? 502 : 429).end();
      else json(response, 200, { access_token: ACCESS_TOKEN, token_type: 'Bearer', expires_in: 60 });
    };
    const attempts: number[] = [];
    const tokens = createTokenClient(options).on('token.renewed', (event) => attempts.push(event.attempts));
    assert.equal((await tokens.getToken()).access_token, ACCESS_TOKEN);
    assert.equal(as.requests.length, 3);
    assert.deepEqual(attempts, [3]);
  });

  it('gives up on a silent server at the deadline', async () => {
    as.handle = () => undefined;
    const started = performance.now();
    const error = await failure(
      createTokenClient({ ...options, timeout: 200, retry: { attempts: 2, ...fastRetry } }),
    );
    const elapsed = performance.now() - started;
    assert.equal(error.code, 'ERR_TOKEN_CLIENT_UNAVAILABLE');
    assert.match(error.message, /200 ms/);
    assert.equal(as.requests.length, 2);
    assert.ok(elapsed >= 400 && elapsed < 1500, `took ${String(elapsed)} ms`);
  });

  it('does not follow a redirect (the credentials would go along)', async () => {
    const elsewhere = await startHttpStub((_request, response) => {
      json(response, 200, { access_token: ACCESS_TOKEN, token_type: 'Bearer' });
    });
    try {
      as.handle = (_request, response) => {
        response.writeHead(307, { location: `${elsewhere.url}/token` }).end();
      };
      const error = await failure();
      assert.equal(error.code, 'ERR_TOKEN_CLIENT_INVALID_RESPONSE');
      assert.equal(error.status, 307);
      assert.equal(elsewhere.requests.length, 0);
    } finally {
      await elsewhere.close();
    }
  });

  it('refuses a token whose lifetime ran out on the way, rather than hand it out expired', async () => {
    // 1 s lifetime, usable for 750 ms (the whole-second allowance); the answer takes 800 ms.
    as.handle = (_request, response) => {
      setTimeout(
        () => json(response, 200, { access_token: ACCESS_TOKEN, token_type: 'Bearer', expires_in: 1 }),
        800,
      );
    };
    const error = await failure();
    assert.equal(error.code, 'ERR_TOKEN_CLIENT_INVALID_RESPONSE');
    assert.match(error.message, /expired before it arrived/);
    assert.equal(as.requests.length, 1);
  });

  it('refuses a response larger than maxResponseBytes', async () => {
    as.handle = (_request, response) => {
      json(response, 200, { access_token: 'x'.repeat(4096), token_type: 'Bearer' });
    };
    const error = await failure(createTokenClient({ ...options, maxResponseBytes: 2048 }));
    assert.equal(error.code, 'ERR_TOKEN_CLIENT_INVALID_RESPONSE');
    assert.match(error.message, /2048/);
  });
});

describe('private_key_jwt assertions (RFC 7523 §3)', () => {
  let as: HttpStub;
  beforeEach(async () => {
    as = await startHttpStub((_request, response) =>
      json(response, 200, { access_token: ACCESS_TOKEN, token_type: 'Bearer', expires_in: 60 }),
    );
  });
  afterEach(async () => {
    await as.close();
  });

  const cases: [string, () => { privateKey: PrivateKeyInput; publicKey: KeyObject; alg: string }, Partial<TokenClientOptions>][] = [
    ['an RSA PEM signing RS384 (SMART)', () => {
      const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
      return { privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, publicKey: pair.publicKey, alg: 'RS384' };
    }, { privateKeyAlgorithm: 'RS384', privateKeyId: 'rsa-1' }],
    ['a P-384 JWK (ES384, SMART)', () => {
      const pair = generateKeyPairSync('ec', { namedCurve: 'P-384' });
      return { privateKey: { ...pair.privateKey.export({ format: 'jwk' }), kid: 'ec-384' }, publicKey: pair.publicKey, alg: 'ES384' };
    }, {}],
    ['an Ed25519 KeyObject', () => {
      const pair = generateKeyPairSync('ed25519');
      return { privateKey: pair.privateKey, publicKey: pair.publicKey, alg: 'Ed25519' };
    }, { privateKeyId: 'ed-1' }],
  ]; // prettier-ignore
  for (const [name, makeKey, extra] of cases) {
    it(`signs with ${name}, addressed to the token endpoint`, async () => {
      const { privateKey, publicKey, alg } = makeKey();
      const tokenEndpoint = `${as.url}/token`;
      await createTokenClient({ tokenEndpoint, clientId: 'gateway', privateKey, ...extra }).getToken();
      const body = new URLSearchParams(as.requests[0]?.body);
      assert.equal(
        body.get('client_assertion_type'),
        'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      );
      assert.equal(body.get('client_id'), 'gateway');
      assert.equal(as.requests[0]?.headers.authorization, undefined);
      const { payload, protectedHeader } = await jwtVerify(body.get('client_assertion') ?? '', publicKey, {
        audience: tokenEndpoint,
        issuer: 'gateway',
        subject: 'gateway',
      });
      assert.equal(protectedHeader.alg, alg);
      assert.equal(protectedHeader.kid, extra.privateKeyId ?? 'ec-384');
      assert.equal(typeof payload.jti, 'string');
      assert.ok((payload.exp ?? 0) - (payload.iat ?? 0) <= 60);
    });
  }

  it('addresses the assertion to the issuer with clientAssertionAudience "issuer"', async () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const issuer = 'https://as.example';
    await createTokenClient({
      issuer,
      tokenEndpoint: `${as.url}/token`,
      clientId: 'gateway',
      privateKey: pair.privateKey,
      clientAssertionAudience: 'issuer',
    }).getToken();
    const assertion = new URLSearchParams(as.requests[0]?.body).get('client_assertion') ?? '';
    assert.equal(
      (await jwtVerify(assertion, pair.publicKey, { audience: issuer })).protectedHeader.alg,
      'ES256',
    );
  });
});

describe('discovery (RFC 8414) against a scripted server', () => {
  let as: HttpStub;
  afterEach(async () => {
    await as.close();
  });

  const client = (issuer: string) =>
    createTokenClient({ issuer, clientId: 'gateway', clientSecret: SECRET, retry: fastRetry });

  it('falls back from RFC 8414 to OpenID Connect discovery, once for all tokens', async () => {
    as = await startHttpStub((request, response) => {
      if (request.path === '/.well-known/openid-configuration') {
        json(response, 200, { issuer: as.url, token_endpoint: `${as.url}/oauth/token` });
      } else if (request.path === '/oauth/token') {
        json(response, 200, { access_token: ACCESS_TOKEN, token_type: 'Bearer', expires_in: 60 });
      } else {
        response.writeHead(404).end();
      }
    });
    const tokens = client(as.url);
    await Promise.all([tokens.getToken(), tokens.getToken({ scope: 'a' }), tokens.getToken({ scope: 'b' })]);
    assert.deepEqual(
      as.requests.map((request) => request.path),
      [
        '/.well-known/oauth-authorization-server',
        '/.well-known/openid-configuration',
        '/oauth/token',
        '/oauth/token',
        '/oauth/token',
      ],
    );
  });

  it('refuses metadata naming another issuer', async () => {
    as = await startHttpStub((_request, response) => {
      json(response, 200, { issuer: 'https://evil.example', token_endpoint: 'https://evil.example/token' });
    });
    await assert.rejects(client(as.url).getToken(), {
      code: 'ERR_TOKEN_CLIENT_INVALID_RESPONSE',
      step: 'discovery',
    });
    assert.equal(as.requests.length, 1);
  });

  it('refuses a plain-http token_endpoint outside loopback', async () => {
    as = await startHttpStub((_request, response) => {
      json(response, 200, { issuer: as.url, token_endpoint: 'http://as.example/token' });
    });
    await assert.rejects(client(as.url).getToken(), (error: TokenRequestError) => {
      assert.equal(error.code, 'ERR_TOKEN_CLIENT_INVALID_RESPONSE');
      assert.match(error.message, /https/);
      return true;
    });
  });

  it('retries an outage and rediscovers on the next call', async () => {
    as = await startHttpStub((_request, response) => {
      response.writeHead(500).end();
    });
    const tokens = client(as.url);
    await assert.rejects(tokens.getToken(), { code: 'ERR_TOKEN_CLIENT_UNAVAILABLE', step: 'discovery' });
    // 3 attempts, each stopping at the first location: a 500 is an outage, not an absent document.
    assert.equal(as.requests.length, 3);
    as.handle = (request, response) => {
      if (request.path === '/token')
        json(response, 200, { access_token: ACCESS_TOKEN, token_type: 'Bearer' });
      else json(response, 200, { issuer: as.url, token_endpoint: `${as.url}/token` });
    };
    assert.equal((await tokens.getToken()).access_token, ACCESS_TOKEN);
  });
});
