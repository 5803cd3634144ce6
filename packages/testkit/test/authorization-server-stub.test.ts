import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';

import {
  EmbeddedJWK,
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  importSPKI,
  jwtVerify,
} from 'jose';
import type { JSONWebKeySet } from 'jose';

import { WRONG_AUDIENCE, WRONG_ISSUER, startAuthorizationServer } from '../src/index.js';
import type { AuthorizationServerStub, EndpointBehaviour } from '../src/index.js';

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

async function fetchJson(url: string): Promise<{ response: Response; body: Record<string, unknown> }> {
  const response = await fetch(url);
  return { response, body: (await response.json()) as Record<string, unknown> };
}

async function publishedKeySet(as: AuthorizationServerStub) {
  const { body } = await fetchJson(as.jwksUri);
  return createLocalJWKSet(body as unknown as JSONWebKeySet);
}

async function verify(as: AuthorizationServerStub, token: string) {
  return jwtVerify(token, await publishedKeySet(as), {
    issuer: as.issuer,
    audience: as.audience,
    typ: 'at+jwt',
  });
}

function kidsOf(as: AuthorizationServerStub): unknown[] {
  return as.jwks().keys.map((key) => key['kid']);
}

function segments(token: string): string[] {
  return token.split('.');
}

async function waitFor(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('startAuthorizationServer', function () {
  let as: AuthorizationServerStub;

  beforeEach(async function () {
    as = await startAuthorizationServer();
  });

  afterEach(async function () {
    await as.close();
  });

  describe('discovery', function () {
    it('lays out URLs on 127.0.0.1 without an issuer path', function () {
      assert.match(as.origin, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(as.issuer, as.origin);
      assert.equal(as.jwksUri, `${as.origin}/jwks`);
      assert.equal(as.oauthMetadataUrl, `${as.origin}/.well-known/oauth-authorization-server`);
      assert.equal(as.openidConfigurationUrl, `${as.origin}/.well-known/openid-configuration`);
      assert.equal(as.audience, 'https://api.example');
    });

    it('serves RFC 8414 and OpenID metadata documents', async function () {
      const oauth = await fetchJson(as.oauthMetadataUrl);
      assert.equal(oauth.response.status, 200);
      assert.equal(oauth.response.headers.get('content-type'), 'application/json');
      assert.equal(oauth.body['issuer'], as.issuer);
      assert.equal(oauth.body['jwks_uri'], as.jwksUri);
      assert.equal(oauth.body['token_endpoint'], `${as.origin}/token`);
      assert.equal(oauth.body['introspection_endpoint'], `${as.origin}/introspect`);
      assert.deepEqual(oauth.body['response_types_supported'], ['code']);
      assert.ok(Array.isArray(oauth.body['grant_types_supported']));
      assert.ok(Array.isArray(oauth.body['token_endpoint_auth_methods_supported']));
      assert.equal(oauth.body['id_token_signing_alg_values_supported'], undefined);

      const oidc = await fetchJson(as.openidConfigurationUrl);
      assert.equal(oidc.response.status, 200);
      assert.equal(oidc.body['issuer'], as.issuer);
      assert.equal(oidc.body['jwks_uri'], as.jwksUri);
      assert.deepEqual(oidc.body['id_token_signing_alg_values_supported'], ['ES256', 'RS256', 'EdDSA']);
    });

    it('inserts the issuer path after the well-known prefix (RFC 8414 §3.1)', async function () {
      const tenant = await startAuthorizationServer({ issuerPath: '/tenant-a' });
      try {
        assert.equal(tenant.issuer, `${tenant.origin}/tenant-a`);
        assert.equal(
          tenant.oauthMetadataUrl,
          `${tenant.origin}/.well-known/oauth-authorization-server/tenant-a`,
        );
        assert.equal(
          tenant.openidConfigurationUrl,
          `${tenant.origin}/tenant-a/.well-known/openid-configuration`,
        );
        assert.equal(tenant.jwksUri, `${tenant.origin}/tenant-a/jwks`);

        const oauth = await fetchJson(tenant.oauthMetadataUrl);
        assert.equal(oauth.response.status, 200);
        assert.equal(oauth.body['issuer'], tenant.issuer);
        assert.equal(oauth.body['jwks_uri'], tenant.jwksUri);
        const oidc = await fetchJson(tenant.openidConfigurationUrl);
        assert.equal(oidc.body['issuer'], tenant.issuer);
        assert.equal((await fetch(tenant.jwksUri)).status, 200);

        // The wrong constructions are not served.
        assert.equal((await fetch(`${tenant.origin}/.well-known/oauth-authorization-server`)).status, 404);
        assert.equal((await fetch(`${tenant.issuer}/.well-known/oauth-authorization-server`)).status, 404);
        assert.equal((await fetch(`${tenant.origin}/.well-known/openid-configuration`)).status, 404);
      } finally {
        await tenant.close();
      }
    });

    it('drops a trailing slash of the issuer path from well-known URLs only', async function () {
      const tenant = await startAuthorizationServer({ issuerPath: '/tenant-b/' });
      try {
        assert.equal(tenant.issuer, `${tenant.origin}/tenant-b/`);
        assert.equal(
          tenant.oauthMetadataUrl,
          `${tenant.origin}/.well-known/oauth-authorization-server/tenant-b`,
        );
        assert.equal(
          tenant.openidConfigurationUrl,
          `${tenant.origin}/tenant-b/.well-known/openid-configuration`,
        );
        assert.equal((await fetchJson(tenant.oauthMetadataUrl)).body['issuer'], `${tenant.origin}/tenant-b/`);
        const token = await tenant.sign();
        assert.equal(decodeJwt(token).iss, `${tenant.origin}/tenant-b/`);
      } finally {
        await tenant.close();
      }
    });

    it('rejects an issuer path that is not a path', async function () {
      await assert.rejects(startAuthorizationServer({ issuerPath: 'tenant' }), TypeError);
      await assert.rejects(startAuthorizationServer({ issuerPath: '/a?b=c' }), TypeError);
      await assert.rejects(startAuthorizationServer({ algorithms: [] }), TypeError);
    });

    it('can switch a discovery document off and merge metadata overrides', async function () {
      const custom = await startAuthorizationServer({
        discovery: { openidConfiguration: false },
        metadata: {
          scopes_supported: ['read'],
          token_endpoint: 'https://elsewhere.example/token',
          jwks_uri: undefined,
        },
      });
      try {
        const oidc = await fetch(custom.openidConfigurationUrl);
        assert.equal(oidc.status, 404);
        assert.equal(custom.counters.openidConfiguration, 1);
        const { body } = await fetchJson(custom.oauthMetadataUrl);
        assert.deepEqual(body['scopes_supported'], ['read']);
        assert.equal(body['token_endpoint'], 'https://elsewhere.example/token');
        assert.equal('jwks_uri' in body, false);
        assert.equal(body['issuer'], custom.issuer);
      } finally {
        await custom.close();
      }
    });

    it('answers 501 at the token endpoint, 401 to anonymous introspection and 404 elsewhere', async function () {
      assert.equal((await fetch(`${as.origin}/token`, { method: 'POST' })).status, 501);
      assert.equal((await fetch(`${as.origin}/introspect`, { method: 'POST' })).status, 401);
      assert.equal((await fetch(`${as.origin}/nope`)).status, 404);
    });
  });

  describe('JWKS and signing', function () {
    it('publishes one public key per initial algorithm, uncached', async function () {
      const { response, body } = await fetchJson(as.jwksUri);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-type'), 'application/json');
      assert.equal(response.headers.get('cache-control'), 'no-store');
      assert.deepEqual(body, as.jwks());
      const keys = as.jwks().keys;
      assert.deepEqual(
        keys.map((key) => key['alg']),
        ['ES256', 'RS256', 'EdDSA'],
      );
      for (const key of keys) {
        assert.equal(key['use'], 'sig');
        assert.equal(typeof key['kid'], 'string');
        assert.equal('d' in key, false);
      }
      assert.equal(new Set(kidsOf(as)).size, 3);
    });

    it('mints a token that verifies against the published JWKS with the default claims', async function () {
      const before = nowSeconds();
      const token = await as.sign();
      const { payload, protectedHeader } = await verify(as, token);
      assert.deepEqual(protectedHeader, { alg: 'ES256', kid: as.jwks().keys[0]?.['kid'], typ: 'at+jwt' });
      assert.equal(payload.iss, as.issuer);
      assert.equal(payload.aud, 'https://api.example');
      assert.equal(payload.sub, 'user-123');
      assert.equal(payload['client_id'], 'test-client');
      assert.equal(payload['scope'], 'read write');
      assert.equal(typeof payload.jti, 'string');
      assert.ok(payload.iat !== undefined && payload.iat >= before && payload.iat <= nowSeconds());
      assert.equal(payload.exp, payload.iat + 300);
      assert.equal(payload.nbf, undefined);
    });

    it('signs with every algorithm', async function () {
      for (const alg of ['ES256', 'RS256', 'EdDSA'] as const) {
        const { protectedHeader } = await verify(as, await as.sign({}, { alg }));
        assert.equal(protectedHeader.alg, alg);
      }
      const ps = await startAuthorizationServer({ algorithms: ['PS256'], audience: 'urn:api' });
      try {
        const { protectedHeader, payload } = await verify(ps, await ps.sign());
        assert.equal(protectedHeader.alg, 'PS256');
        assert.equal(payload.aud, 'urn:api');
        await assert.rejects(ps.sign({}, { alg: 'ES256' }), /no ES256 key/);
      } finally {
        await ps.close();
      }
    });

    it('applies claim overrides, removals and sign options', async function () {
      const now = nowSeconds();
      const token = await as.sign(
        { scope: 'read', client_id: undefined, extra: 42 },
        { typ: null, expiresIn: 60, notBefore: -10, issuedAt: 1000, header: { cty: 'x' } },
      );
      const header = decodeProtectedHeader(token);
      assert.equal('typ' in header, false);
      assert.equal(header.cty, 'x');
      const payload = decodeJwt(token);
      assert.equal(payload['scope'], 'read');
      assert.equal('client_id' in payload, false);
      assert.equal(payload['extra'], 42);
      assert.equal(payload.iat, 1000);
      assert.ok(payload.exp !== undefined && Math.abs(payload.exp - (now + 60)) <= 1);
      assert.ok(payload.nbf !== undefined && Math.abs(payload.nbf - (now - 10)) <= 1);
      assert.equal('exp' in decodeJwt(await as.sign({}, { expiresIn: null })), false);

      const crit = await as.sign({}, { header: { crit: ['urn:example:ext'], 'urn:example:ext': 1 } });
      await assert.rejects(verify(as, crit), { code: 'ERR_JOSE_NOT_SUPPORTED' });
    });
  });

  describe('key management', function () {
    it('rotation publishes a new kid and signs with it', async function () {
      const oldKid = as.jwks().keys[0]?.['kid'];
      const newKid = await as.rotateKeys();
      assert.notEqual(newKid, oldKid);
      assert.deepEqual(kidsOf(as).slice(-1), [newKid]);
      assert.equal(as.jwks().keys.length, 4);
      assert.ok(kidsOf(as).includes(oldKid));
      const token = await as.sign();
      assert.equal(decodeProtectedHeader(token).kid, newKid);
      await verify(as, token);
      assert.equal(as.publicJwk()['kid'], newKid);

      const retired = await as.rotateKeys('ES256', { retireOld: true });
      assert.equal(kidsOf(as).includes(newKid), false);
      assert.ok(kidsOf(as).includes(retired));
      assert.equal(as.jwks().keys.length, 4);
      // The retired key still signs on request, and such a token no longer verifies.
      await assert.rejects(verify(as, await as.sign({}, { kid: newKid })), {
        code: 'ERR_JWKS_NO_MATCHING_KEY',
      });
    });

    it('adds, publishes, unpublishes and removes keys', async function () {
      const kid = await as.addKey('RS256', { publish: false, kid: 'staged' });
      assert.equal(kid, 'staged');
      assert.equal(kidsOf(as).includes('staged'), false);
      const token = await as.sign({}, { kid: 'staged' });
      await assert.rejects(verify(as, token), { code: 'ERR_JWKS_NO_MATCHING_KEY' });
      as.publishKey('staged');
      assert.equal((await verify(as, token)).protectedHeader.kid, 'staged');
      as.unpublishKey('staged');
      assert.equal(kidsOf(as).includes('staged'), false);
      as.removeKey('staged');
      await assert.rejects(as.sign({}, { kid: 'staged' }), /no key with kid/);
      assert.throws(() => {
        as.publishKey('staged');
      }, /no key with kid/);
      await assert.rejects(as.addKey('ES256', { kid: String(kidsOf(as)[0]) }), /already exists/);
      await assert.rejects(as.sign({}, { alg: 'EdDSA', kid: String(kidsOf(as)[0]) }), /not EdDSA/);
    });

    it('exposes public keys as PEM and JWK', async function () {
      const rsaKid = String(kidsOf(as)[1]);
      const pem = await as.publicKeyPem(rsaKid);
      assert.match(pem, /^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----$/);
      const token = await as.sign({}, { kid: rsaKid });
      await jwtVerify(token, await importSPKI(pem, 'RS256'));
      assert.deepEqual(as.publicJwk(rsaKid), as.jwks().keys[1]);
      assert.equal(as.publicJwk()['alg'], 'ES256');
    });
  });

  describe('bad tokens', function () {
    it('expired: exp an hour ago, otherwise valid', async function () {
      const token = await as.bad.expired();
      const payload = decodeJwt(token);
      const now = nowSeconds();
      assert.ok(payload.exp !== undefined && payload.exp <= now - 3599 && payload.exp >= now - 3601);
      assert.ok(payload.iat !== undefined && payload.iat < payload.exp);
      await assert.rejects(verify(as, token), { code: 'ERR_JWT_EXPIRED' });
      await jwtVerify(token, await publishedKeySet(as), { currentDate: new Date((payload.exp - 10) * 1000) });
    });

    it('notYetValid: nbf an hour ahead', async function () {
      const token = await as.bad.notYetValid();
      const payload = decodeJwt(token);
      assert.ok(payload.nbf !== undefined && payload.nbf >= nowSeconds() + 3599);
      await assert.rejects(verify(as, token), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'nbf' });
    });

    it('wrongAudience and wrongIssuer: one wrong claim each', async function () {
      const wrongAud = await as.bad.wrongAudience();
      assert.equal(decodeJwt(wrongAud).aud, WRONG_AUDIENCE);
      assert.equal(WRONG_AUDIENCE, 'https://wrong.example');
      await assert.rejects(verify(as, wrongAud), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'aud' });
      const wrongIss = await as.bad.wrongIssuer();
      assert.equal(decodeJwt(wrongIss).iss, 'https://evil.example');
      assert.equal(WRONG_ISSUER, 'https://evil.example');
      await assert.rejects(verify(as, wrongIss), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'iss' });
      await jwtVerify(wrongIss, await publishedKeySet(as), { audience: as.audience });
    });

    it('algNone: unsecured header and an empty signature', async function () {
      const token = await as.bad.algNone({ scope: 'admin' });
      const [, , signature] = segments(token);
      assert.deepEqual(decodeProtectedHeader(token), { alg: 'none', typ: 'at+jwt' });
      assert.equal(signature, '');
      assert.equal(decodeJwt(token)['scope'], 'admin');
      assert.equal(decodeJwt(token).iss, as.issuer);
      await assert.rejects(verify(as, token));
    });

    it('hs256WithPublicKey: HMAC keyed with the RSA public PEM', async function () {
      const token = await as.bad.hs256WithPublicKey();
      const header = decodeProtectedHeader(token);
      const rsaKid = String(kidsOf(as)[1]);
      assert.deepEqual(header, { alg: 'HS256', typ: 'at+jwt', kid: rsaKid });
      const signingInput = token.slice(0, token.lastIndexOf('.'));
      const pem = await as.publicKeyPem(rsaKid);
      assert.equal(segments(token)[2], createHmac('sha256', pem).update(signingInput).digest('base64url'));
      await assert.rejects(verify(as, token));

      const ecOnly = await startAuthorizationServer({ algorithms: ['ES256'] });
      try {
        const added = decodeProtectedHeader(await ecOnly.bad.hs256WithPublicKey()).kid;
        assert.equal(ecOnly.jwks().keys.length, 2);
        assert.equal(ecOnly.publicJwk(added)['alg'], 'RS256');
        assert.ok(kidsOf(ecOnly).includes(added));
      } finally {
        await ecOnly.close();
      }
    });

    it('unknownKid: signed by a key that is not published', async function () {
      const token = await as.bad.unknownKid();
      const { kid, alg } = decodeProtectedHeader(token);
      assert.equal(alg, 'ES256');
      assert.equal(typeof kid, 'string');
      assert.equal(kidsOf(as).includes(kid), false);
      assert.equal(as.jwks().keys.length, 3);
      await assert.rejects(verify(as, token), { code: 'ERR_JWKS_NO_MATCHING_KEY' });
    });

    it('embeddedJwk: verifies only if the embedded key is trusted', async function () {
      const token = await as.bad.embeddedJwk();
      const header = decodeProtectedHeader(token);
      assert.ok(header.jwk !== undefined && !('d' in header.jwk));
      assert.equal(kidsOf(as).includes(header.kid), false);
      await jwtVerify(token, EmbeddedJWK);
      await assert.rejects(verify(as, token), { code: 'ERR_JWKS_NO_MATCHING_KEY' });
    });

    for (const parameter of ['jku', 'x5u'] as const) {
      it(`${parameter}: points at an attacker JWKS that serves the signing key`, async function () {
        const token = await as.bad[parameter]();
        const header = decodeProtectedHeader(token);
        const url = `${as.origin}/attacker-jwks`;
        assert.equal(header[parameter], url);
        assert.equal(kidsOf(as).includes(header.kid), false);
        await assert.rejects(verify(as, token), { code: 'ERR_JWKS_NO_MATCHING_KEY' });
        assert.equal(as.attackerHits, 0);

        const { body } = await fetchJson(url);
        assert.equal(as.attackerHits, 1);
        assert.equal(as.counters.attackerJwks, 1);
        assert.equal(as.counters.jwks, 1);
        const attackerSet = createLocalJWKSet(body as unknown as JSONWebKeySet);
        await jwtVerify(token, attackerSet, { issuer: as.issuer, audience: as.audience });
      });
    }

    it('tampered: widened scope under the original signature', async function () {
      const token = await as.bad.tampered();
      assert.equal(decodeJwt(token)['scope'], 'admin');
      assert.equal(decodeJwt(token).iss, as.issuer);
      await assert.rejects(verify(as, token), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
      assert.equal(decodeJwt(await as.bad.tampered({ scope: 'admin' }))['scope'], 'admin root');
    });

    it('missingExp: valid signature, no exp', async function () {
      const token = await as.bad.missingExp();
      assert.equal('exp' in decodeJwt(token), false);
      await verify(as, token);
      await assert.rejects(jwtVerify(token, await publishedKeySet(as), { requiredClaims: ['exp'] }), {
        code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
        claim: 'exp',
      });
    });

    it('bad helpers take claim overrides', async function () {
      assert.equal(decodeJwt(await as.bad.expired({ sub: 'alice' })).sub, 'alice');
      assert.equal(decodeJwt(await as.bad.unknownKid({ sub: 'bob' })).sub, 'bob');
    });
  });

  describe('endpoint behaviours', function () {
    it('fail answers 500 (or the given status) with a server_error body', async function () {
      as.setBehaviour('jwks', { mode: 'fail' });
      const failed = await fetchJson(as.jwksUri);
      assert.equal(failed.response.status, 500);
      assert.deepEqual(failed.body, { error: 'server_error' });
      as.setBehaviour('oauthMetadata', { mode: 'fail', status: 503 });
      assert.equal((await fetch(as.oauthMetadataUrl)).status, 503);
      assert.equal((await fetch(as.openidConfigurationUrl)).status, 200);
      as.setBehaviour('jwks', { mode: 'ok' });
      assert.deepEqual((await fetchJson(as.jwksUri)).body, as.jwks());
    });

    it('hang never answers; the client times out and close() returns promptly', async function () {
      as.setBehaviour('jwks', { mode: 'hang' });
      const started = Date.now();
      await assert.rejects(fetch(as.jwksUri, { signal: AbortSignal.timeout(200) }), { name: 'TimeoutError' });
      assert.ok(Date.now() - started >= 190);

      const stillHanging = fetch(as.jwksUri).then(
        () => 'answered',
        () => 'failed',
      );
      await waitFor(() => as.counters.jwks === 2);
      const closing = Date.now();
      await as.close();
      assert.ok(Date.now() - closing < 500, 'close() took too long');
      assert.equal(await stillHanging, 'failed');
      assert.equal(as.close(), as.close());
      await as.close();
    });

    it('slow answers correctly after the delay', async function () {
      as.setBehaviour('openidConfiguration', { mode: 'slow', delayMs: 300 });
      const started = Date.now();
      const { response, body } = await fetchJson(as.openidConfigurationUrl);
      assert.ok(Date.now() - started >= 290);
      assert.equal(response.status, 200);
      assert.equal(body['issuer'], as.issuer);
    });

    it('garbage is JSON-typed but not JSON', async function () {
      as.setBehaviour('jwks', { mode: 'garbage' });
      const response = await fetch(as.jwksUri);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-type'), 'application/json');
      await assert.rejects(response.json(), SyntaxError);
    });

    it('html answers an HTML page', async function () {
      as.setBehaviour('oauthMetadata', { mode: 'html' });
      const response = await fetch(as.oauthMetadataUrl);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(await response.text(), /^<!DOCTYPE html>/);
    });

    it('huge answers exactly the given number of bytes of valid JSON', async function () {
      as.setBehaviour('jwks', { mode: 'huge' });
      const response = await fetch(as.jwksUri);
      assert.equal(response.headers.get('content-type'), 'application/json');
      assert.equal(response.headers.get('content-length'), String(2 * 1024 * 1024));
      const text = await response.text();
      assert.equal(Buffer.byteLength(text), 2 * 1024 * 1024);
      const parsed = JSON.parse(text) as { keys: unknown[] };
      assert.deepEqual(parsed.keys, as.jwks().keys);

      for (const bytes of [1000, 20, 5, 0]) {
        as.setBehaviour('jwks', { mode: 'huge', bytes });
        assert.equal(Buffer.byteLength(await (await fetch(as.jwksUri)).text()), bytes);
      }
    });

    it('redirect answers 302 with the location', async function () {
      as.setBehaviour('openidConfiguration', { mode: 'redirect', location: 'https://elsewhere.example/x' });
      const response = await fetch(as.openidConfigurationUrl, { redirect: 'manual' });
      assert.equal(response.status, 302);
      assert.equal(response.headers.get('location'), 'https://elsewhere.example/x');
    });

    it('notFound answers 404', async function () {
      as.setBehaviour('jwks', { mode: 'notFound' });
      assert.equal((await fetch(as.jwksUri)).status, 404);
    });

    it('rejects malformed behaviours', function () {
      assert.throws(() => {
        as.setBehaviour('jwks', { mode: 'slow', delayMs: -1 });
      }, TypeError);
      assert.throws(() => {
        as.setBehaviour('jwks', { mode: 'huge', bytes: 1.5 });
      }, TypeError);
      assert.throws(() => {
        as.setBehaviour('jwks', { mode: 'bogus' } as unknown as EndpointBehaviour);
      }, TypeError);
      assert.throws(() => {
        as.setBehaviour('token' as 'jwks', { mode: 'ok' });
      }, TypeError);
    });
  });

  describe('counters', function () {
    it('count every request per endpoint, whatever the behaviour or method', async function () {
      assert.deepEqual(as.counters, {
        jwks: 0,
        oauthMetadata: 0,
        openidConfiguration: 0,
        introspection: 0,
        attackerJwks: 0,
        introspectionAuthFailures: 0,
      });
      await fetch(as.jwksUri);
      await fetch(as.jwksUri);
      as.setBehaviour('jwks', { mode: 'fail' });
      await fetch(as.jwksUri);
      assert.equal((await fetch(as.jwksUri, { method: 'POST' })).status, 405);
      await fetch(as.oauthMetadataUrl);
      await fetch(`${as.origin}/unknown`);
      assert.deepEqual(as.counters, {
        jwks: 4,
        oauthMetadata: 1,
        openidConfiguration: 0,
        introspection: 0,
        attackerJwks: 0,
        introspectionAuthFailures: 0,
      });

      as.resetCounters();
      assert.deepEqual(as.counters, {
        jwks: 0,
        oauthMetadata: 0,
        openidConfiguration: 0,
        introspection: 0,
        attackerJwks: 0,
        introspectionAuthFailures: 0,
      });
      assert.equal(as.attackerHits, 0);
    });
  });
});
