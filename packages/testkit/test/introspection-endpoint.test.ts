import assert from 'node:assert/strict';

import {
  SignJWT,
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  jwtVerify,
} from 'jose';
import type { CryptoKey, JSONWebKeySet } from 'jose';
import * as oauth from 'oauth4webapi';

import {
  DEFAULT_INTROSPECTION_CLIENT,
  INTROSPECTION_JWT_MEDIA_TYPE,
  JWT_BEARER_ASSERTION_TYPE,
  startAuthorizationServer,
} from '../src/index.js';
import type { AuthorizationServerStub, EndpointBehaviour, IntrospectionRequestRecord } from '../src/index.js';

const FORM = 'application/x-www-form-urlencoded';
// The stub is plain http on 127.0.0.1, so oauth4webapi must be allowed to use http.
// eslint-disable-next-line @typescript-eslint/no-deprecated
const INSECURE = { [oauth.allowInsecureRequests]: true } as const;
const RS = { id: 'resource-server', secret: 'resource-server-secret' };
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** RFC 6749 §2.3.1: application/x-www-form-urlencoded encoding of each part, then base64. */
function basic(id: string, secret: string): string {
  const encode = (value: string): string => new URLSearchParams({ v: value }).toString().slice(2);
  return `Basic ${Buffer.from(`${encode(id)}:${encode(secret)}`).toString('base64')}`;
}

/** The last recorded introspection request (read through the getter each time). */
function lastRequest(as: AuthorizationServerStub): IntrospectionRequestRecord {
  const record = as.lastIntrospectionRequest;
  assert.ok(record !== undefined, 'no introspection request recorded');
  return record;
}

interface Introspected {
  response: Response;
  text: string;
  body: Record<string, unknown> | undefined;
}

/** POSTs a form to the introspection endpoint, as the default client via Basic unless headers say otherwise. */
async function introspect(
  as: AuthorizationServerStub,
  params: Record<string, string>,
  headers: Record<string, string> = { authorization: basic(RS.id, RS.secret) },
): Promise<Introspected> {
  const response = await fetch(as.introspectionEndpoint, {
    method: 'POST',
    headers: { 'content-type': FORM, accept: 'application/json', ...headers },
    body: new URLSearchParams(params).toString(),
    redirect: 'manual',
  });
  const text = await response.text();
  let body: Record<string, unknown> | undefined;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = undefined;
  }
  return { response, text, body };
}

function expectedOpaqueClaims(as: AuthorizationServerStub, iat: number): Record<string, unknown> {
  return {
    active: true,
    scope: 'read write',
    client_id: 'test-client',
    sub: 'user-123',
    aud: as.audience,
    iss: as.issuer,
    iat,
    exp: iat + 300,
    token_type: 'Bearer',
  };
}

interface ClientKey {
  privateKey: CryptoKey;
  jwks: { keys: Record<string, unknown>[] };
}

async function clientKey(kid: string): Promise<ClientKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  return { privateKey, jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] } };
}

async function assertion(
  key: CryptoKey,
  claims: Record<string, unknown>,
  options: { kid?: string; expires?: boolean } = {},
): Promise<string> {
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: options.kid ?? 'c1' })
    .setIssuedAt()
    .setJti(crypto.randomUUID());
  if (options.expires ?? true) jwt.setExpirationTime('1m');
  return jwt.sign(key);
}

describe('introspection endpoint (RFC 7662)', function () {
  let as: AuthorizationServerStub;

  beforeEach(async function () {
    as = await startAuthorizationServer();
  });

  afterEach(async function () {
    await as.close();
  });

  describe('metadata and defaults', function () {
    it('advertises the endpoint, the auth methods and the response signing algorithms', async function () {
      assert.equal(as.introspectionEndpoint, `${as.origin}/introspect`);
      assert.deepEqual(as.introspectionClient, { clientId: RS.id, clientSecret: RS.secret });
      assert.deepEqual(DEFAULT_INTROSPECTION_CLIENT, as.introspectionClient);
      const body = (await (await fetch(as.oauthMetadataUrl)).json()) as Record<string, unknown>;
      assert.equal(body['introspection_endpoint'], as.introspectionEndpoint);
      assert.deepEqual(body['introspection_endpoint_auth_methods_supported'], [
        'client_secret_basic',
        'client_secret_post',
        'private_key_jwt',
      ]);
      assert.deepEqual(body['introspection_signing_alg_values_supported'], ['ES256', 'RS256', 'EdDSA']);
      assert.ok(
        (body['introspection_endpoint_auth_signing_alg_values_supported'] as string[]).includes('ES256'),
      );
      assert.equal(as.lastIntrospectionRequest, undefined);
    });

    it('only accepts POST', async function () {
      const response = await fetch(as.introspectionEndpoint);
      assert.equal(response.status, 405);
      assert.equal(response.headers.get('allow'), 'POST');
      assert.equal(as.counters.introspection, 1);
    });
  });

  describe('client authentication', function () {
    it('client_secret_basic: active opaque token with the exact default claims, request recorded', async function () {
      const before = nowSeconds();
      const token = as.issueOpaqueToken();
      assert.match(token, /^[A-Za-z0-9_-]{43}$/);
      const { response, body } = await introspect(as, { token, token_type_hint: 'access_token' });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-type'), 'application/json');
      assert.equal(response.headers.get('cache-control'), 'no-store');
      const iat = body?.['iat'] as number;
      assert.ok(iat >= before && iat <= nowSeconds());
      assert.equal(Object.keys(body ?? {})[0], 'active');
      assert.deepEqual(body, expectedOpaqueClaims(as, iat));
      assert.deepEqual(as.lastIntrospectionRequest, {
        token,
        tokenTypeHint: 'access_token',
        clientId: RS.id,
        authMethod: 'client_secret_basic',
        accept: 'application/json',
        contentType: FORM,
      });
    });

    it('client_secret_basic form-urlencodes id and secret before base64 (RFC 6749 §2.3.1)', async function () {
      as.registerClient({ clientId: 'rs:1 é', clientSecret: 'p@ss w+rd:/%' });
      const token = as.issueOpaqueToken();
      const ok = await introspect(as, { token }, { authorization: basic('rs:1 é', 'p@ss w+rd:/%') });
      assert.equal(ok.response.status, 200);
      assert.equal(ok.body?.['active'], true);
      assert.equal(lastRequest(as).clientId, 'rs:1 é');
      // Unencoded ':' in the id splits at the wrong place.
      const raw = `Basic ${Buffer.from('rs:1 é:p@ss w+rd:/%').toString('base64')}`;
      assert.equal((await introspect(as, { token }, { authorization: raw })).response.status, 401);
    });

    it('client_secret_post', async function () {
      const token = as.issueOpaqueToken({ scope: 'read' });
      const { response, body } = await introspect(
        as,
        { token, client_id: RS.id, client_secret: RS.secret, token_type_hint: 'access_token' },
        {},
      );
      assert.equal(response.status, 200);
      assert.equal(body?.['active'], true);
      assert.equal(body['scope'], 'read');
      assert.equal(lastRequest(as).authMethod, 'client_secret_post');
      assert.equal(lastRequest(as).clientId, RS.id);
      assert.equal(as.counters.introspectionAuthFailures, 0);
    });

    it('private_key_jwt with a jose client key; aud may be the issuer, the endpoint or the token endpoint', async function () {
      const { privateKey, jwks } = await clientKey('c1');
      as.registerClient({ clientId: 'jwt-client', jwks });
      const token = as.issueOpaqueToken();
      for (const aud of [as.issuer, as.introspectionEndpoint, `${as.origin}/token`, ['x', as.issuer]]) {
        const { response, body } = await introspect(
          as,
          {
            token,
            client_id: 'jwt-client',
            client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
            client_assertion: await assertion(privateKey, { iss: 'jwt-client', sub: 'jwt-client', aud }),
          },
          {},
        );
        assert.equal(response.status, 200, JSON.stringify(aud));
        assert.equal(body?.['active'], true);
      }
      assert.equal(lastRequest(as).authMethod, 'private_key_jwt');
      // Without client_id the client is found from the assertion's iss.
      const claims = { iss: 'jwt-client', sub: 'jwt-client', aud: as.issuer };
      const params = {
        token,
        client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
        client_assertion: await assertion(privateKey, claims),
      };
      assert.equal((await introspect(as, params, {})).response.status, 200);
      assert.equal(lastRequest(as).clientId, 'jwt-client');
      assert.equal(as.counters.introspectionAuthFailures, 0);
    });

    it('private_key_jwt rejects bad assertions with 401 invalid_client and no challenge', async function () {
      const { privateKey, jwks } = await clientKey('c1');
      const other = await clientKey('c1');
      as.registerClient({ clientId: 'jwt-client', jwks });
      const token = as.issueOpaqueToken();
      const good = { iss: 'jwt-client', sub: 'jwt-client', aud: as.issuer };
      const cases: [string, Promise<string>, Record<string, string>?][] = [
        ['wrong aud', assertion(privateKey, { ...good, aud: 'https://elsewhere.example' })],
        ['no exp', assertion(privateKey, good, { expires: false })],
        ['other key', assertion(other.privateKey, good)],
        ['sub differs', assertion(privateKey, { ...good, sub: 'someone' })],
        ['iss differs from client_id', assertion(privateKey, { ...good, iss: 'resource-server' })],
        [
          'unknown client',
          assertion(privateKey, { ...good, iss: 'nobody', sub: 'nobody' }),
          { client_id: 'nobody' },
        ],
        [
          'no keys registered',
          assertion(privateKey, { ...good, iss: RS.id, sub: RS.id }),
          { client_id: RS.id },
        ],
        ['wrong assertion type', assertion(privateKey, good), { client_assertion_type: 'urn:x' }],
      ];
      for (const [name, signed, overrides] of cases) {
        const params = {
          token,
          client_id: 'jwt-client',
          client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
          client_assertion: await signed,
          ...overrides,
        };
        const { response, body } = await introspect(as, params, {});
        assert.equal(response.status, 401, name);
        assert.equal(body?.['error'], 'invalid_client', name);
        assert.equal(response.headers.get('www-authenticate'), null, name);
      }
      assert.equal(lastRequest(as).authMethod, 'unsupported');
      assert.equal(as.counters.introspectionAuthFailures, cases.length);
    });

    it('wrong or missing credentials: 401 invalid_client, Basic challenge when Basic was used', async function () {
      const token = as.issueOpaqueToken();
      const wrongBasic = await introspect(as, { token }, { authorization: basic(RS.id, 'nope') });
      assert.equal(wrongBasic.response.status, 401);
      assert.equal(wrongBasic.body?.['error'], 'invalid_client');
      assert.equal(wrongBasic.response.headers.get('www-authenticate'), 'Basic realm="testkit"');
      assert.equal(wrongBasic.response.headers.get('content-type'), 'application/json');

      const unknown = await introspect(as, { token }, { authorization: basic('ghost', RS.secret) });
      assert.equal(unknown.response.status, 401);
      const garbled = await introspect(as, { token }, { authorization: 'Basic !!!' });
      assert.equal(garbled.response.status, 401);
      const bearer = await introspect(as, { token }, { authorization: 'Bearer abc' });
      assert.equal(bearer.response.status, 401);
      assert.equal(bearer.response.headers.get('www-authenticate'), 'Basic realm="testkit"');
      assert.equal(lastRequest(as).authMethod, 'unsupported');

      const missing = await introspect(as, { token }, {});
      assert.equal(missing.response.status, 401);
      assert.equal(missing.body?.['error'], 'invalid_client');
      assert.equal(missing.response.headers.get('www-authenticate'), 'Basic realm="testkit"');
      assert.equal(lastRequest(as).authMethod, 'none');

      const wrongPost = await introspect(as, { token, client_id: RS.id, client_secret: 'nope' }, {});
      assert.equal(wrongPost.response.status, 401);
      assert.equal(wrongPost.body?.['error'], 'invalid_client');
      assert.equal(wrongPost.response.headers.get('www-authenticate'), null);

      const idOnly = await introspect(as, { token, client_id: RS.id }, {});
      assert.equal(idOnly.response.status, 401);

      const mismatch = await introspect(as, { token, client_id: 'other' });
      assert.equal(mismatch.response.status, 401);

      const both = await introspect(as, { token, client_id: RS.id, client_secret: RS.secret });
      assert.equal(both.response.status, 400);
      assert.equal(both.body?.['error'], 'invalid_request');
      assert.equal(lastRequest(as).authMethod, 'multiple');

      assert.equal(as.counters.introspectionAuthFailures, 9);
      assert.equal(as.counters.introspection, 9);
    });

    it('registerClient validates its input', async function () {
      const { jwks } = await clientKey('k');
      assert.throws(() => {
        as.registerClient({ clientId: RS.id, clientSecret: 'x' });
      }, /already registered/);
      assert.throws(() => {
        as.registerClient({ clientId: '', clientSecret: 'x' });
      }, TypeError);
      assert.throws(() => {
        as.registerClient({ clientId: 'a' });
      }, /clientSecret or a jwks/);
      assert.throws(() => {
        as.registerClient({ clientId: 'b', jwks: { keys: 'no' } as unknown as typeof jwks });
      }, /JWK Set/);
      as.registerClient({ clientId: 'both', clientSecret: 's', jwks });
      assert.equal(
        (await introspect(as, { token: 'x' }, { authorization: basic('both', 's') })).response.status,
        200,
      );
    });
  });

  describe('token states', function () {
    it('unknown, revoked, expired and not-yet-valid opaque tokens are exactly {"active":false}', async function () {
      const live = as.issueOpaqueToken();
      const revoked = as.issueOpaqueToken();
      as.revoke(revoked);
      const expired = as.issueOpaqueToken({}, { expiresIn: -1 });
      const expiringNow = as.issueOpaqueToken({}, { expiresIn: 0 });
      const future = as.issueOpaqueToken({ nbf: nowSeconds() + 60 });
      assert.equal((await introspect(as, { token: live })).body?.['active'], true);
      for (const token of [revoked, expired, expiringNow, future, 'unknown-token', live.slice(1)]) {
        const { response, text } = await introspect(as, { token });
        assert.equal(response.status, 200);
        assert.equal(text, '{"active":false}');
      }
      as.revoke(live);
      assert.equal((await introspect(as, { token: live })).text, '{"active":false}');
    });

    it('claim overrides, removals and expiresIn: null', async function () {
      const token = as.issueOpaqueToken(
        { aud: undefined, token_type: undefined, scope: 'admin', extra: { a: 1 } },
        { expiresIn: null },
      );
      const { body } = await introspect(as, { token });
      const iat = body?.['iat'];
      assert.ok(typeof iat === 'number' && Math.abs(iat - nowSeconds()) <= 1);
      assert.deepEqual(body, {
        active: true,
        scope: 'admin',
        client_id: 'test-client',
        sub: 'user-123',
        iss: as.issuer,
        iat,
        extra: { a: 1 },
      });
      const explicitExp = as.issueOpaqueToken({ exp: 4102444800 }, { expiresIn: 5 });
      assert.equal((await introspect(as, { token: explicitExp })).body?.['exp'], 4102444800);
      assert.notEqual(as.issueOpaqueToken(), as.issueOpaqueToken());
      assert.throws(() => as.issueOpaqueToken({ active: false }), TypeError);
      assert.throws(() => as.issueOpaqueToken({}, { expiresIn: Number.NaN }), TypeError);
    });

    it('JWTs minted by sign() are active with their claims unless revoked or invalid', async function () {
      const token = await as.sign({ scope: 'read', active: false });
      const { body } = await introspect(as, { token, token_type_hint: 'access_token' });
      const claims: Record<string, unknown> = { ...decodeJwt(token) };
      delete claims['active'];
      assert.equal(body?.['scope'], 'read');
      assert.deepEqual(body, { active: true, ...claims });

      for (const alg of ['RS256', 'EdDSA'] as const) {
        assert.equal(
          (await introspect(as, { token: await as.sign({}, { alg }) })).body?.['active'],
          true,
          alg,
        );
      }
      const staged = await as.addKey('ES256', { publish: false });
      const byStaged = await as.sign({}, { kid: staged });
      assert.equal((await introspect(as, { token: byStaged })).body?.['active'], true);
      as.removeKey(staged);
      assert.equal((await introspect(as, { token: byStaged })).text, '{"active":false}');

      as.revoke(token);
      assert.equal((await introspect(as, { token })).text, '{"active":false}');
      const noExp = await as.bad.missingExp();
      assert.equal((await introspect(as, { token: noExp })).body?.['active'], true);
      const wrongAudience = await as.bad.wrongAudience();
      assert.equal((await introspect(as, { token: wrongAudience })).body?.['aud'], 'https://wrong.example');
    });

    it('a JWT introspected before stays checked for expiry, revocation and key removal', async function () {
      // Two seconds: `exp` is a whole second, so a one-second token minted late in a second could
      // expire before the first call on a busy machine.
      const token = await as.sign({}, { expiresIn: 2 });
      assert.equal((await introspect(as, { token })).body?.['active'], true);
      assert.equal((await introspect(as, { token })).body?.['active'], true);
      const exp = decodeJwt(token).exp ?? 0;
      await new Promise((resolve) => setTimeout(resolve, (exp + 0.05) * 1000 - Date.now()));
      assert.equal((await introspect(as, { token })).text, '{"active":false}');

      const revoked = await as.sign();
      assert.equal((await introspect(as, { token: revoked })).body?.['active'], true);
      as.revoke(revoked);
      assert.equal((await introspect(as, { token: revoked })).text, '{"active":false}');

      const kid = await as.addKey('RS256');
      const byKid = await as.sign({}, { kid });
      assert.equal((await introspect(as, { token: byKid })).body?.['active'], true);
      as.removeKey(kid);
      assert.equal((await introspect(as, { token: byKid })).text, '{"active":false}');
    });

    for (const name of [
      'expired',
      'notYetValid',
      'algNone',
      'hs256WithPublicKey',
      'unknownKid',
      'embeddedJwk',
      'jku',
      'tampered',
    ] as const) {
      it(`bad.${name}() introspects as inactive`, async function () {
        const { response, text } = await introspect(as, { token: await as.bad[name]() });
        assert.equal(response.status, 200);
        assert.equal(text, '{"active":false}');
      });
    }
  });

  describe('request validation', function () {
    it('missing, empty or repeated token, or a non-form body: 400 invalid_request', async function () {
      const invalid: Record<string, string>[] = [{}, { token: '' }, { token_type_hint: 'access_token' }];
      for (const params of invalid) {
        const { response, body } = await introspect(as, params);
        assert.equal(response.status, 400, JSON.stringify(params));
        assert.equal(body?.['error'], 'invalid_request');
      }
      const repeated = await fetch(as.introspectionEndpoint, {
        method: 'POST',
        headers: { authorization: basic(RS.id, RS.secret), 'content-type': FORM },
        body: 'token=a&token=b',
      });
      assert.equal(repeated.status, 400);
      assert.equal(lastRequest(as).token, undefined);
      const json = await fetch(as.introspectionEndpoint, {
        method: 'POST',
        headers: { authorization: basic(RS.id, RS.secret), 'content-type': 'application/json' },
        body: JSON.stringify({ token: as.issueOpaqueToken() }),
      });
      assert.equal(json.status, 400);
      assert.equal(((await json.json()) as Record<string, unknown>)['error'], 'invalid_request');
      assert.equal(as.counters.introspectionAuthFailures, 0);
    });
  });

  describe('JWT responses (RFC 9701)', function () {
    it('answers a token-introspection+jwt signed by the default key, verifiable with the JWKS', async function () {
      const token = as.issueOpaqueToken();
      const before = nowSeconds();
      const { response, text } = await introspect(
        as,
        { token },
        {
          authorization: basic(RS.id, RS.secret),
          accept: INTROSPECTION_JWT_MEDIA_TYPE,
        },
      );
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-type'), 'application/token-introspection+jwt');
      const jwks = (await (await fetch(as.jwksUri)).json()) as JSONWebKeySet;
      const { payload, protectedHeader } = await jwtVerify(text, createLocalJWKSet(jwks), {
        issuer: as.issuer,
        audience: RS.id,
        typ: 'token-introspection+jwt',
      });
      assert.deepEqual(protectedHeader, {
        alg: 'ES256',
        kid: as.publicJwk()['kid'],
        typ: 'token-introspection+jwt',
      });
      assert.deepEqual(Object.keys(payload), ['iss', 'aud', 'iat', 'token_introspection']);
      assert.equal(payload.aud, RS.id);
      assert.ok(payload.iat !== undefined && payload.iat >= before && payload.iat <= nowSeconds());
      const introspected = payload['token_introspection'] as Record<string, unknown>;
      assert.deepEqual(introspected, expectedOpaqueClaims(as, introspected['iat'] as number));
      assert.equal(lastRequest(as).accept, INTROSPECTION_JWT_MEDIA_TYPE);

      const rotated = await as.rotateKeys();
      const inactive = await introspect(
        as,
        { token: 'nope' },
        {
          authorization: basic(RS.id, RS.secret),
          accept: `application/json;q=0.5, ${INTROSPECTION_JWT_MEDIA_TYPE}`,
        },
      );
      assert.equal(decodeProtectedHeader(inactive.text).kid, rotated);
      assert.deepEqual(decodeJwt(inactive.text)['token_introspection'], { active: false });
    });

    it('answers JSON when the JWT type is absent, refused (q=0) or only matched by a wildcard', async function () {
      const token = as.issueOpaqueToken();
      for (const accept of ['*/*', `${INTROSPECTION_JWT_MEDIA_TYPE};q=0`, 'application/*']) {
        const { response, body } = await introspect(
          as,
          { token },
          { authorization: basic(RS.id, RS.secret), accept },
        );
        assert.equal(response.headers.get('content-type'), 'application/json', accept);
        assert.equal(body?.['active'], true);
      }
    });
  });

  describe('oauth4webapi as the resource server', function () {
    async function discovered(): Promise<oauth.AuthorizationServer> {
      const issuer = new URL(as.issuer);
      const response = await oauth.discoveryRequest(issuer, { ...INSECURE });
      return oauth.processDiscoveryResponse(issuer, response);
    }

    it('introspects with each auth method, in JSON and as a JWT', async function () {
      const server = await discovered();
      const { privateKey, jwks } = await clientKey('rs-key');
      as.registerClient({ clientId: 'rs-jwt', jwks });
      const token = as.issueOpaqueToken({ scope: 'read' });
      const methods: [string, oauth.ClientAuth][] = [
        [RS.id, oauth.ClientSecretBasic(RS.secret)],
        [RS.id, oauth.ClientSecretPost(RS.secret)],
        ['rs-jwt', oauth.PrivateKeyJwt({ key: privateKey, kid: 'rs-key' })],
      ];
      const used: unknown[] = [];
      for (const [clientId, auth] of methods) {
        for (const requestJwtResponse of [false, true]) {
          const response = await oauth.introspectionRequest(server, { client_id: clientId }, auth, token, {
            ...INSECURE,
            additionalParameters: { token_type_hint: 'access_token' },
            requestJwtResponse,
          });
          const result = await oauth.processIntrospectionResponse(server, { client_id: clientId }, response);
          assert.equal(result.active, true);
          assert.equal(result.scope, 'read');
          assert.equal(lastRequest(as).tokenTypeHint, 'access_token');
          used.push(lastRequest(as).authMethod);
        }
      }
      assert.deepEqual(used, [
        'client_secret_basic',
        'client_secret_basic',
        'client_secret_post',
        'client_secret_post',
        'private_key_jwt',
        'private_key_jwt',
      ]);
      assert.equal(as.counters.introspectionAuthFailures, 0);
    });
  });

  describe('behaviours and counters', function () {
    it('json answers exactly the given body, status and content type, without authenticating', async function () {
      as.setBehaviour('introspection', { mode: 'json', body: { active: 'true' } });
      const token = as.issueOpaqueToken();
      const wrong = await introspect(as, { token, token_type_hint: 'access_token' }, {});
      assert.equal(wrong.response.status, 200);
      assert.equal(wrong.response.headers.get('content-type'), 'application/json');
      assert.equal(wrong.text, '{"active":"true"}');
      assert.equal(lastRequest(as).tokenTypeHint, 'access_token');
      assert.equal(as.counters.introspectionAuthFailures, 0);

      as.setBehaviour('introspection', {
        mode: 'json',
        status: 201,
        body: '{"active":true}',
        contentType: 'text/plain',
      });
      const raw = await introspect(as, { token });
      assert.equal(raw.response.status, 201);
      assert.equal(raw.response.headers.get('content-type'), 'text/plain');
      assert.equal(raw.text, '{"active":true}');

      as.setBehaviour('introspection', { mode: 'json', status: 401, body: { error: 'invalid_client' } });
      assert.equal((await introspect(as, { token })).response.status, 401);
      as.setBehaviour('jwks', { mode: 'json', body: { keys: 'nope' } });
      assert.equal(await (await fetch(as.jwksUri)).text(), '{"keys":"nope"}');

      as.setBehaviour('introspection', { mode: 'ok' });
      assert.equal((await introspect(as, { token })).body?.['active'], true);
      const invalid = [
        { body: undefined },
        { body: 1, contentType: '' },
        { body: 1, status: 99 },
        { body: 1n },
      ];
      for (const behaviour of invalid) {
        assert.throws(() => {
          as.setBehaviour('introspection', { mode: 'json', ...behaviour });
        }, TypeError);
      }
    });

    it('applies the failure modes', async function () {
      const token = as.issueOpaqueToken();
      const answers: [EndpointBehaviour, number, RegExp][] = [
        [{ mode: 'fail' }, 500, /^\{"error":"server_error"\}$/],
        [{ mode: 'fail', status: 503 }, 503, /server_error/],
        [{ mode: 'garbage' }, 200, /not> JSON/],
        [{ mode: 'html' }, 200, /^<!DOCTYPE html>/],
        [{ mode: 'huge', bytes: 1000 }, 200, /^\{"active":true,.*"padding":"a+"\}$/],
        [{ mode: 'redirect', location: 'https://elsewhere.example/' }, 302, /^$/],
        [{ mode: 'notFound' }, 404, /not_found/],
      ];
      for (const [behaviour, status, text] of answers) {
        as.setBehaviour('introspection', behaviour);
        const result = await introspect(as, { token });
        assert.equal(result.response.status, status, behaviour.mode);
        assert.match(result.text, text, behaviour.mode);
      }
      assert.equal(as.counters.introspection, answers.length);
    });

    it('hang never answers; slow answers with the state at answer time', async function () {
      const token = as.issueOpaqueToken();
      as.setBehaviour('introspection', { mode: 'hang' });
      await assert.rejects(
        fetch(as.introspectionEndpoint, {
          method: 'POST',
          headers: { authorization: basic(RS.id, RS.secret) },
          body: new URLSearchParams({ token }),
          signal: AbortSignal.timeout(200),
        }),
        { name: 'TimeoutError' },
      );
      as.setBehaviour('introspection', { mode: 'slow', delayMs: 300 });
      const started = Date.now();
      const pending = introspect(as, { token });
      await new Promise((resolve) => setTimeout(resolve, 100));
      as.revoke(token);
      const { response, text } = await pending;
      assert.ok(Date.now() - started >= 290);
      assert.equal(response.status, 200);
      assert.equal(text, '{"active":false}');
    });

    it('counts every request, and rejected client authentications separately', async function () {
      const token = as.issueOpaqueToken();
      await introspect(as, { token });
      await introspect(as, { token }, {});
      await introspect(as, { token }, { authorization: basic(RS.id, 'x') });
      await introspect(as, {});
      await fetch(as.introspectionEndpoint, { method: 'PUT' });
      as.setBehaviour('introspection', { mode: 'fail' });
      await introspect(as, { token }, {});
      await fetch(as.jwksUri);
      assert.deepEqual(as.counters, {
        jwks: 1,
        oauthMetadata: 0,
        openidConfiguration: 0,
        introspection: 6,
        attackerJwks: 0,
        introspectionAuthFailures: 2,
      });
      as.resetCounters();
      assert.equal(as.counters.introspection, 0);
      assert.equal(as.counters.introspectionAuthFailures, 0);
    });
  });
});
