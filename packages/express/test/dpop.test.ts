import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync } from 'node:crypto';

import {
  authenticate,
  ConfigurationError,
  errorHandler,
  protectedResourceMetadata,
  requireScopes,
  requireSmartScope,
} from '@bearer-guard/express';
import type { DpopReplayStore, SingleIssuerOptions } from '@bearer-guard/express';
import { createDpopProof, generateDpopKey, startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub, DpopKey, DpopProofOptions } from '@bearer-guard/testkit';
import express from 'express';
import { exportJWK } from 'jose';
import request from 'supertest';

import { assertErrorBody, DESCRIPTION, probe, rawRequest, SHORT_TIMEOUT, TIMEOUT } from './support.js';

const PUBLIC_URL = 'https://orders.example';
const HTU = `${PUBLIC_URL}/orders`;
const ALGS = 'ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA Ed25519';
const D = {
  missing: 'The request has no DPoP proof.',
  malformed: 'The DPoP proof is malformed.',
  signature: 'The DPoP proof signature is invalid.',
  mismatch: 'The DPoP proof does not match this request.',
  stale: 'The DPoP proof was not created recently enough.',
  replayed: 'The DPoP proof was already used.',
  binding: 'The access token is not bound to the key of the DPoP proof.',
  required: 'This resource requires a DPoP-bound access token.',
  nonce: 'Resource server requires nonce in DPoP proof',
  store: 'The DPoP proof cannot be checked at the moment. Try again later.',
};

/** `DPoP error="…", error_description="…", algs="…"` */
const dpopError = (error: string, description: string, algs = ALGS): string =>
  `DPoP error="${error}", error_description="${description}", algs="${algs}"`;
const proofError = (description: string): string => dpopError('invalid_dpop_proof', description);
const nowSeconds = (): number => Math.floor(Date.now() / 1000);
const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

describe('authenticate() with dpop (RFC 9449)', function () {
  let as: AuthorizationServerStub;
  let key: DpopKey;
  let otherKey: DpopKey;

  before(async function () {
    as = await startAuthorizationServer();
    key = await generateDpopKey();
    otherKey = await generateDpopKey();
  });

  after(async function () {
    await as.close();
  });

  function api(options: Partial<SingleIssuerOptions> = {}) {
    const route = probe();
    const app = express();
    app.set('env', 'test');
    const auth = authenticate({
      issuer: as.issuer,
      audience: as.audience,
      jwksUri: as.jwksUri,
      timeout: TIMEOUT,
      publicUrl: PUBLIC_URL,
      dpop: {},
      ...options,
    });
    app.use(auth);
    app.get('/orders', route.handler);
    app.post('/orders', route.handler);
    app.get('/admin', requireScopes('admin'), route.handler);
    app.use(errorHandler());
    return { app, route, auth };
  }

  const proof = (token: string, options: Partial<DpopProofOptions> = {}, with_: DpopKey = key) =>
    createDpopProof(with_, { htm: 'GET', htu: HTU, accessToken: token, ...options });

  async function call(app: express.Express, token: string, dpop: string | undefined, path = '/orders') {
    const req = request(app).get(path).set('Authorization', `DPoP ${token}`);
    return dpop === undefined ? await req : await req.set('DPoP', dpop);
  }

  /** Asserts a 401 `invalid_dpop_proof` answer with `description`. */
  function refusedProof(res: request.Response, description: string): void {
    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], proofError(description));
    assertErrorBody(res.body, 'invalid_dpop_proof', description);
  }

  describe('a DPoP-bound token with a valid proof', function () {
    it('passes a JWT bound by cnf.jkt (§6.1) and sets req.auth.confirmation', async function () {
      const { app, route } = api();
      const token = await as.sign({ ...key.cnf, sub: 'alice' });
      const res = await call(app, token, await proof(token));
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { ok: true, subject: 'alice' });
      assert.deepEqual(route.principals[0]?.confirmation, { jkt: key.jkt });
      assert.equal(res.headers['dpop-nonce'], undefined);
    });

    it('passes an introspected token with top-level cnf.jkt and token_type DPoP (§6.2)', async function () {
      const { app, route } = api({
        jwksUri: undefined,
        introspection: {
          endpoint: as.introspectionEndpoint,
          clientId: as.introspectionClient.clientId,
          clientSecret: as.introspectionClient.clientSecret,
          timeout: TIMEOUT,
        },
      });
      const token = as.issueOpaqueToken({ ...key.cnf, token_type: 'DPoP', sub: 'bob' });
      const res = await call(app, token, await proof(token));
      assert.equal(res.status, 200);
      assert.deepEqual(route.principals[0]?.confirmation, { jkt: key.jkt });
      // token_type Bearer beside cnf.jkt: §6.2 says a DPoP token's type is DPoP.
      const typed = as.issueOpaqueToken({ ...key.cnf, token_type: 'Bearer' });
      const wrongType = await call(app, typed, await proof(typed));
      assert.equal(wrongType.status, 401);
      assert.equal(wrongType.headers['www-authenticate'], dpopError('invalid_token', D.binding));
      // Another key's proof for an introspected token.
      const other = await call(app, token, await proof(token, {}, otherKey));
      assert.equal(other.headers['www-authenticate'], dpopError('invalid_token', D.binding));
    });

    it('verifies the proof on every request while the token comes from the verified-token cache', async function () {
      const { app } = api({ tokenCache: { admission: 'first-use' } });
      const token = await as.sign({ ...key.cnf });
      const before = as.counters.jwks;
      for (let i = 0; i < 3; i++) assert.equal((await call(app, token, await proof(token))).status, 200);
      assert.ok(as.counters.jwks - before <= 1);
      // A cached token with a bad proof is still refused.
      refusedProof(await call(app, token, await proof(token, { htm: 'POST' })), D.mismatch);
      refusedProof(await call(app, token, undefined), D.missing);
    });
  });

  describe('each check of §4.3', function () {
    let app: express.Express;
    let token: string;
    before(async function () {
      app = api().app;
      token = await as.sign({ ...key.cnf });
    });

    it('(1) one DPoP header: two are refused', async function () {
      const res = await rawRequest(app, 'GET /orders HTTP/1.1', [
        `Authorization: DPoP ${token}`,
        `DPoP: ${await proof(token)}`,
        `DPoP: ${await proof(token)}`,
      ]);
      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], proofError(D.malformed));
    });

    it('no DPoP header with the DPoP scheme', async function () {
      refusedProof(await call(app, token, undefined), D.missing);
    });

    it('(2) one well-formed JWT', async function () {
      for (const bad of [
        'not-a-jwt',
        'a.b',
        'a.b.c.d',
        `${(await proof(token)).slice(0, -2)}!!`,
        'e30.e30.',
      ]) {
        refusedProof(await call(app, token, bad), D.malformed);
      }
    });

    it('(4) typ dpop+jwt', async function () {
      for (const typ of ['JWT', 'at+jwt', undefined, 'application/dpop+jwt+x']) {
        refusedProof(await call(app, token, await proof(token, { header: { typ } })), D.malformed);
      }
    });

    it('(5) an asymmetric algorithm from the allow-list: never none, never HS256', async function () {
      const [head = '', body = ''] = (await proof(token)).split('.');
      const header = JSON.parse(Buffer.from(head, 'base64url').toString()) as Record<string, unknown>;
      const none = `${Buffer.from(JSON.stringify({ ...header, alg: 'none' })).toString('base64url')}.${body}.`;
      refusedProof(await call(app, token, none), D.malformed);
      const hsHead = Buffer.from(JSON.stringify({ ...header, alg: 'HS256' })).toString('base64url');
      const mac = createHmac('sha256', JSON.stringify(key.publicJwk))
        .update(`${hsHead}.${body}`)
        .digest('base64url');
      refusedProof(await call(app, token, `${hsHead}.${body}.${mac}`), D.malformed);
      // An asymmetric algorithm that is not in `dpop.algorithms`.
      const strict = api({ dpop: { algorithms: ['ES256'] } }).app;
      const rsaKey = await generateDpopKey('PS256');
      const rsaToken = await as.sign({ ...rsaKey.cnf });
      const res = await call(strict, rsaToken, await proof(rsaToken, {}, rsaKey));
      assert.equal(res.headers['www-authenticate'], dpopError('invalid_dpop_proof', D.malformed, 'ES256'));
      assert.equal((await call(strict, token, await proof(token))).status, 200);
    });

    it('(6) the signature verifies with the header jwk', async function () {
      const [head = '', , signature = ''] = (await proof(token)).split('.');
      const forged = Buffer.from(
        JSON.stringify({ jti: 'x', htm: 'GET', htu: HTU, iat: nowSeconds(), ath: 'x' }),
      ).toString('base64url');
      refusedProof(await call(app, token, `${head}.${forged}.${signature}`), D.signature);
      // Signed by another key than the one in the header.
      refusedProof(
        await call(app, token, await proof(token, { header: { jwk: otherKey.publicJwk } })),
        D.signature,
      );
    });

    it('(7) the jwk is a public asymmetric key with no private member', async function () {
      const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const privateJwk = await exportJWK(pair.privateKey);
      refusedProof(await call(app, token, await proof(token, { header: { jwk: privateJwk } })), D.malformed);
      const withD = { ...key.publicJwk, d: 'AAAA' };
      refusedProof(await call(app, token, await proof(token, { header: { jwk: withD } })), D.malformed);
      refusedProof(
        await call(app, token, await proof(token, { header: { jwk: { kty: 'oct', k: 'c2VjcmV0' } } })),
        D.malformed,
      );
      for (const jwk of [undefined, 'a string', { kty: 'EC', crv: 'P-256' }]) {
        refusedProof(await call(app, token, await proof(token, { header: { jwk } })), D.malformed);
      }
    });

    it('(3) jti, htm, htu and iat are present; jti at most 256 characters', async function () {
      for (const claim of ['jti', 'htm', 'htu', 'iat']) {
        refusedProof(
          await call(app, token, await proof(token, { claims: { [claim]: undefined } })),
          D.malformed,
        );
      }
      refusedProof(
        await call(app, token, await proof(token, { claims: { iat: String(nowSeconds()) } })),
        D.malformed,
      );
      refusedProof(await call(app, token, await proof(token, { jti: 'j'.repeat(257) })), D.malformed);
      assert.equal((await call(app, token, await proof(token, { jti: 'j'.repeat(256) }))).status, 200);
    });

    it('(8) htm equals the method', async function () {
      refusedProof(await call(app, token, await proof(token, { htm: 'POST' })), D.mismatch);
      refusedProof(await call(app, token, await proof(token, { htm: 'get' })), D.mismatch);
      const post = await request(app)
        .post('/orders')
        .set('Authorization', `DPoP ${token}`)
        .set('DPoP', await proof(token, { htm: 'POST' }));
      assert.equal(post.status, 200);
    });

    it('(9) htu equals the request URL without query, after RFC 3986 normalisation', async function () {
      refusedProof(await call(app, token, await proof(token, { htu: `${PUBLIC_URL}/other` })), D.mismatch);
      refusedProof(
        await call(app, token, await proof(token, { htu: 'https://evil.example/orders' })),
        D.mismatch,
      );
      refusedProof(
        await call(app, token, await proof(token, { htu: 'http://orders.example/orders' })),
        D.mismatch,
      );
      refusedProof(await call(app, token, await proof(token, { htu: `${HTU}/` })), D.mismatch);
      for (const htu of [
        'HTTPS://ORDERS.example:443/orders',
        'https://orders.example/%6Frders',
        'https://orders.example/x/../orders',
        `${HTU}?page=2#top`,
      ]) {
        const res = await request(app)
          .get('/orders?page=1')
          .set('Authorization', `DPoP ${token}`)
          .set('DPoP', await proof(token, { claims: { htu } }));
        assert.equal(res.status, 200, htu);
      }
    });

    it('(9) a request path the router does not resolve as WHATWG does (dot segments, backslashes) matches no htu', async function () {
      // `/orders/%2e%2e/admin` is `/admin` after normalisation, but Express routes it to
      // `/orders/:id/admin` with id "..": a proof made for one resource would pass on another.
      const app = express();
      app.set('env', 'test');
      app.use(
        authenticate({
          issuer: as.issuer,
          audience: as.audience,
          jwksUri: as.jwksUri,
          timeout: TIMEOUT,
          publicUrl: PUBLIC_URL,
          dpop: {},
        }),
      );
      app.get('/orders/:id/admin', (req, res) => {
        res.json({ id: req.params.id });
      });
      app.use((_req, res) => {
        res.status(404).json({});
      });
      app.use(errorHandler());
      for (const [target, htu] of [
        ['/orders/%2e%2e/admin', `${PUBLIC_URL}/admin`],
        ['/orders/../admin', `${PUBLIC_URL}/admin`],
        ['/orders/.%2E/admin', `${PUBLIC_URL}/admin`],
        ['/orders/./1', `${PUBLIC_URL}/orders/1`],
        ['/orders\\..\\admin', `${PUBLIC_URL}/admin`],
        ['http://orders.example/orders/%2e%2e/admin', `${PUBLIC_URL}/admin`],
      ] as const) {
        const dpop = await proof(token, { htu });
        const res = await rawRequest(app, `GET ${target} HTTP/1.1`, [
          `Authorization: DPoP ${token}`,
          `DPoP: ${dpop}`,
        ]);
        assert.equal(res.status, 401, target);
        assert.equal(res.headers['www-authenticate'], proofError(D.mismatch), target);
      }
      const plain = await rawRequest(app, 'GET /orders/1/admin HTTP/1.1', [
        `Authorization: DPoP ${token}`,
        `DPoP: ${await proof(token, { htu: `${PUBLIC_URL}/orders/1/admin` })}`,
      ]);
      assert.equal(plain.status, 200);
    });

    it('(9) the URL comes from publicUrl and the path, never from Host or an untrusted X-Forwarded-Host', async function () {
      const hostProof = await proof(token, { htu: 'https://attacker.example/orders' });
      const res = await request(app)
        .get('/orders')
        .set('Host', 'attacker.example')
        .set('X-Forwarded-Host', 'attacker.example')
        .set('X-Forwarded-Proto', 'https')
        .set('Authorization', `DPoP ${token}`)
        .set('DPoP', hostProof);
      refusedProof(res, D.mismatch);
      // Behind a proxy that strips /api: publicUrl carries the prefix.
      const prefixed = api({ publicUrl: 'https://host.example/api' }).app;
      const ok = await call(prefixed, token, await proof(token, { htu: 'https://host.example/api/orders' }));
      assert.equal(ok.status, 200);
      // A sub-app mounted at /v1: the mount path is part of the URL (req.originalUrl).
      const outer = express();
      outer.use('/v1', api().app);
      const mounted = await call(
        outer,
        token,
        await proof(token, { htu: `${PUBLIC_URL}/v1/orders` }),
        '/v1/orders',
      );
      assert.equal(mounted.status, 200);
    });

    it('(9) without publicUrl, X-Forwarded-Proto/-Host count only from a peer trustProxy accepts', async function () {
      const forwarded = (target: express.Express, dpop: string) =>
        request(target)
          .get('/orders')
          .set('X-Forwarded-Host', 'orders.example')
          .set('X-Forwarded-Proto', 'https')
          .set('Authorization', `DPoP ${token}`)
          .set('DPoP', dpop);
      const trusted = api({ publicUrl: undefined, trustProxy: ['127.0.0.1'] }).app;
      assert.equal((await forwarded(trusted, await proof(token))).status, 200);
      const untrusted = api({ publicUrl: undefined, trustProxy: ['10.1.2.3'] }).app;
      refusedProof(await forwarded(untrusted, await proof(token)), D.mismatch);
      const byFunction = api({
        publicUrl: undefined,
        trustProxy: (address) => address.endsWith('127.0.0.1'),
      }).app;
      assert.equal((await forwarded(byFunction, await proof(token))).status, 200);
      const throwing = api({
        publicUrl: undefined,
        trustProxy: () => {
          throw new Error('bug');
        },
      }).app;
      refusedProof(await forwarded(throwing, await proof(token)), D.mismatch);
    });

    it('(11) iat within the window: 300 s either way by default, configurable', async function () {
      refusedProof(await call(app, token, await proof(token, { iat: nowSeconds() - 310 })), D.stale);
      refusedProof(await call(app, token, await proof(token, { iat: nowSeconds() + 310 })), D.stale);
      assert.equal((await call(app, token, await proof(token, { iat: nowSeconds() - 290 }))).status, 200);
      assert.equal((await call(app, token, await proof(token, { iat: nowSeconds() + 290 }))).status, 200);
      const narrow = api({ dpop: { iatWindow: 30 } }).app;
      refusedProof(await call(narrow, token, await proof(token, { iat: nowSeconds() - 60 })), D.stale);
      assert.equal((await call(narrow, token, await proof(token, { iat: nowSeconds() - 10 }))).status, 200);
    });

    it('(11) a proof that says when it expires (exp) or starts (nbf) is held to it (RFC 7519 §4.1.4, §4.1.5)', async function () {
      const at = (claims: Record<string, unknown>) => proof(token, { claims });
      refusedProof(await call(app, token, await at({ exp: nowSeconds() - 60 })), D.stale);
      refusedProof(await call(app, token, await at({ nbf: nowSeconds() + 60 })), D.stale);
      refusedProof(await call(app, token, await at({ exp: 'tomorrow' })), D.malformed);
      refusedProof(await call(app, token, await at({ nbf: null })), D.malformed);
      // Within clockTolerance (5 s), as for the access token's own exp and nbf.
      assert.equal((await call(app, token, await at({ exp: nowSeconds() - 2 }))).status, 200);
      assert.equal((await call(app, token, await at({ nbf: nowSeconds() + 2 }))).status, 200);
      assert.equal(
        (await call(app, token, await at({ exp: nowSeconds() + 60, nbf: nowSeconds() }))).status,
        200,
      );
    });

    it('(12) ath equals BASE64URL(SHA-256(access token))', async function () {
      const other = await as.sign({ ...key.cnf });
      refusedProof(await call(app, token, await proof(other)), D.mismatch);
      refusedProof(await call(app, token, await proof(token, { accessToken: undefined })), D.mismatch);
    });

    it('(12) the proof key is the one of cnf.jkt: otherwise DPoP error="invalid_token"', async function () {
      const res = await call(app, token, await proof(token, {}, otherKey));
      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], dpopError('invalid_token', D.binding));
      assertErrorBody(res.body, 'invalid_token', D.binding);
    });
  });

  describe('schemes (§7)', function () {
    it('a DPoP-bound token sent as Bearer is refused (§7.2), with the error on Bearer', async function () {
      const { app, route } = api();
      const token = await as.sign({ ...key.cnf });
      const res = await request(app)
        .get('/orders')
        .set('Authorization', `Bearer ${token}`)
        .set('DPoP', await proof(token));
      assert.equal(res.status, 401);
      assert.equal(
        res.headers['www-authenticate'],
        `Bearer realm="api", error="invalid_token", error_description="${DESCRIPTION.senderConstrained}", DPoP algs="${ALGS}"`,
      );
      assert.equal(route.calls, 0);
    });

    it('a malformed DPoP credential is 400; a DPoP token also in the query is two methods', async function () {
      const { app } = api({ tokenLocations: { query: true } });
      const token = await as.sign({ ...key.cnf });
      const malformed = await request(app).get('/orders').set('Authorization', 'DPoP a b');
      assert.equal(malformed.status, 400);
      assertErrorBody(malformed.body, 'invalid_request', DESCRIPTION.headerMalformed);
      const twice = await request(app)
        .get(`/orders?access_token=${token}`)
        .set('Authorization', `DPoP ${token}`)
        .set('DPoP', await proof(token));
      assert.equal(twice.status, 400);
      assertErrorBody(twice.body, 'invalid_request', DESCRIPTION.multipleMethods);
    });

    it('an unbound token on the DPoP scheme is refused: DPoP error="invalid_token"', async function () {
      const { app } = api();
      const token = await as.sign();
      const res = await call(app, token, await proof(token));
      assert.equal(res.headers['www-authenticate'], dpopError('invalid_token', D.binding));
    });

    it('an unbound Bearer token passes, a DPoP header beside it ignored; refused with required: true', async function () {
      const token = await as.sign();
      const open = api().app;
      const plain = await request(open).get('/orders').set('Authorization', `Bearer ${token}`);
      assert.equal(plain.status, 200);
      const withProof = await request(open)
        .get('/orders')
        .set('Authorization', `Bearer ${token}`)
        .set('DPoP', 'garbage');
      assert.equal(withProof.status, 200);
      const required = api({ dpop: { required: true } }).app;
      const res = await request(required).get('/orders').set('Authorization', `Bearer ${token}`);
      assert.equal(res.status, 401);
      assert.equal(
        res.headers['www-authenticate'],
        `Bearer realm="api", error="invalid_token", error_description="${D.required}", DPoP algs="${ALGS}"`,
      );
      const bound = await as.sign({ ...key.cnf });
      assert.equal((await call(required, bound, await proof(bound))).status, 200);
    });

    it('without credentials: Bearer realm="…", DPoP algs="…" and no error code (§7.1); DPoP only when required', async function () {
      const res = await request(api().app).get('/orders');
      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], `Bearer realm="api", DPoP algs="${ALGS}"`);
      const required = await request(api({ dpop: { required: true } }).app).get('/orders');
      assert.equal(required.headers['www-authenticate'], `DPoP algs="${ALGS}"`);
    });

    it('a bad token on the DPoP scheme gets the error on DPoP; insufficient scope too', async function () {
      const { app } = api();
      const expired = await as.sign({ ...key.cnf }, { expiresIn: -60 });
      const res = await call(app, expired, await proof(expired));
      assert.equal(res.headers['www-authenticate'], dpopError('invalid_token', DESCRIPTION.expired));
      const token = await as.sign({ ...key.cnf, scope: 'read' });
      const admin = await call(app, token, await proof(token, { htu: `${PUBLIC_URL}/admin` }), '/admin');
      assert.equal(admin.status, 403);
      assert.equal(
        admin.headers['www-authenticate'],
        `DPoP error="insufficient_scope", error_description="${DESCRIPTION.insufficientScope}", scope="admin", algs="${ALGS}"`,
      );
    });

    it('requireSmartScope refuses a DPoP-bound token with the same challenge as requireScopes', async function () {
      const auth = authenticate({
        issuer: as.issuer,
        audience: as.audience,
        jwksUri: as.jwksUri,
        timeout: TIMEOUT,
        publicUrl: PUBLIC_URL,
        dpop: {},
      });
      const app = express();
      app.set('env', 'test');
      app.use(protectedResourceMetadata(auth));
      app.use(auth);
      app.get('/Observation', requireSmartScope('Observation', 'read'), (_req, res) => {
        res.json({ ok: true });
      });
      app.use(errorHandler());
      const token = await as.sign({ ...key.cnf, scope: 'patient/Patient.rs', patient: '123' });
      const res = await request(app)
        .get('/Observation?patient=123')
        .set('Authorization', `DPoP ${token}`)
        .set('DPoP', await proof(token, { htu: `${PUBLIC_URL}/Observation` }));
      assert.equal(res.status, 403);
      // The scheme the token came with, its algs, and the served metadata document (RFC 9728 §5.1).
      assert.equal(
        res.headers['www-authenticate'],
        `DPoP error="insufficient_scope", error_description="${DESCRIPTION.insufficientScope}", scope="patient/Observation.rs", algs="${ALGS}", resource_metadata="https://orders.example/.well-known/oauth-protected-resource"`,
      );
    });

    it('without dpop configured, a DPoP-bound token is refused on either scheme', async function () {
      const { app } = api({ dpop: undefined, publicUrl: undefined });
      const token = await as.sign({ ...key.cnf });
      const bearer = await request(app).get('/orders').set('Authorization', `Bearer ${token}`);
      assert.equal(bearer.status, 401);
      assert.equal(
        bearer.headers['www-authenticate'],
        `Bearer realm="api", error="invalid_token", error_description="${DESCRIPTION.senderConstrained}"`,
      );
      const dpop = await call(app, token, await proof(token));
      assert.equal(dpop.status, 401);
      assert.equal(dpop.headers['www-authenticate'], 'Bearer realm="api"');
    });
  });

  describe('replay (§11.1)', function () {
    it('accepts a proof once', async function () {
      const { app } = api();
      const token = await as.sign({ ...key.cnf });
      const once = await proof(token);
      assert.equal((await call(app, token, once)).status, 200);
      refusedProof(await call(app, token, once), D.replayed);
    });

    it('accepts one of many concurrent requests with the same proof (the memory store is atomic)', async function () {
      const { app, route } = api();
      const token = await as.sign({ ...key.cnf });
      const once = await proof(token);
      const answers = await Promise.all(Array.from({ length: 20 }, () => call(app, token, once)));
      assert.deepEqual(answers.map((res) => res.status).sort(), [
        200,
        ...Array.from({ length: 19 }, () => 401),
      ]);
      assert.equal(route.calls, 1);
    });

    it('a re-encoded signature is the same proof: the replay key is of what the signature covers', async function () {
      const { app } = api();
      const token = await as.sign({ ...key.cnf });
      const once = await proof(token);
      const [head = '', body = '', signature = ''] = once.split('.');
      const bytes = Buffer.from(signature, 'base64url');
      // 64 bytes in 86 characters: the last one carries 4 bits that decode to nothing.
      const last = signature.charAt(signature.length - 1);
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const sibling = alphabet.charAt(alphabet.indexOf(last) ^ 1);
      const reencoded = `${signature.slice(0, -1)}${sibling}`;
      assert.deepEqual(Buffer.from(reencoded, 'base64url'), bytes);
      // ECDSA's other signature of the same message: (r, n - s).
      const n = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
      const s = BigInt(`0x${bytes.subarray(32).toString('hex')}`);
      const flipped = Buffer.concat([
        bytes.subarray(0, 32),
        Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex'),
      ]).toString('base64url');
      assert.equal((await call(app, token, once)).status, 200);
      refusedProof(await call(app, token, `${head}.${body}.${reencoded}`), D.replayed);
      refusedProof(await call(app, token, `${head}.${body}.${flipped}`), D.replayed);
    });

    it('records a proof only after every other check passed, keyed by a hash, for the rest of the window', async function () {
      const calls: { key: string; ttlMs: number }[] = [];
      const store: DpopReplayStore = {
        setIfAbsent(key, ttlMs) {
          calls.push({ key, ttlMs });
          return true;
        },
      };
      const { app } = api({ dpop: { replayStore: store } });
      const token = await as.sign({ ...key.cnf });
      const jti = 'a-jti-that-must-not-be-stored-as-is';
      await call(app, token, await proof(token, { jti, htm: 'POST' }));
      await call(app, token, await proof(token, { jti }, otherKey));
      await call(app, token, await proof(token, { jti, iat: nowSeconds() - 400 }));
      assert.equal(calls.length, 0);
      assert.equal(
        (await call(app, token, await proof(token, { jti, iat: nowSeconds() - 100 }))).status,
        200,
      );
      assert.equal(calls.length, 1);
      assert.match(calls[0]?.key ?? '', /^bg:dpop:v1:[A-Za-z0-9_-]{43}$/);
      assert.ok(!calls[0]?.key.includes(jti));
      const ttl = calls[0]?.ttlMs ?? 0;
      // The rest of the window (200 s) plus the default clockTolerance (5 s).
      assert.ok(ttl > 200_000 && ttl <= 206_000, String(ttl));
    });

    it('replicas sharing a store catch a proof replayed against the other one', async function () {
      const shared = new Map<string, number>();
      const store: DpopReplayStore = {
        setIfAbsent: async (key) => {
          await sleep(1);
          if (shared.has(key)) return false;
          shared.set(key, 1);
          return true;
        },
      };
      const one = api({ dpop: { replayStore: store } }).app;
      const two = api({ dpop: { replayStore: store } }).app;
      const token = await as.sign({ ...key.cnf });
      const once = await proof(token);
      assert.equal((await call(one, token, once)).status, 200);
      refusedProof(await call(two, token, once), D.replayed);
    });

    it('a store that throws, rejects, answers neither true nor false, or hangs: 503, never a pass', async function () {
      const stores: DpopReplayStore[] = [
        {
          setIfAbsent() {
            throw new Error('down');
          },
        },
        { setIfAbsent: () => Promise.reject(new Error('down')) },
        { setIfAbsent: () => 'OK' as unknown as boolean },
        { setIfAbsent: () => new Promise<boolean>(() => undefined) },
      ];
      const token = await as.sign({ ...key.cnf });
      for (const replayStore of stores) {
        const { app, route } = api({ dpop: { replayStore }, timeout: SHORT_TIMEOUT });
        const res = await call(app, token, await proof(token));
        assert.equal(res.status, 503);
        assert.equal(res.headers['retry-after'], '1');
        assertErrorBody(res.body, 'temporarily_unavailable', D.store);
        assert.equal(route.calls, 0);
      }
    });
  });

  describe('server nonces (§9)', function () {
    const secret = 'a-shared-secret-of-at-least-32-bytes!!';

    it('a proof without the current nonce gets exactly one DPoP challenge and a DPoP-Nonce, no-store', async function () {
      const { app } = api({ dpop: { nonce: { secret } } });
      const token = await as.sign({ ...key.cnf });
      const first = await call(app, token, await proof(token));
      assert.equal(first.status, 401);
      assert.equal(
        first.headers['www-authenticate'],
        `DPoP error="use_dpop_nonce", error_description="${D.nonce}"`,
      );
      assertErrorBody(first.body, 'use_dpop_nonce', D.nonce);
      assert.match(first.headers['dpop-nonce'] ?? '', /^[A-Za-z0-9_-]{43}$/);
      assert.equal(first.headers['cache-control'], 'no-store');
      const nonce = first.headers['dpop-nonce']!;
      const second = await call(app, token, await proof(token, { nonce }));
      assert.equal(second.status, 200);
      assert.equal(second.headers['dpop-nonce'], nonce);
      assert.equal(second.headers['cache-control'], 'no-store');
      const wrong = await call(app, token, await proof(token, { nonce: 'A'.repeat(43) }));
      assert.equal(
        wrong.headers['www-authenticate'],
        `DPoP error="use_dpop_nonce", error_description="${D.nonce}"`,
      );
    });

    it('replicas sharing the secret accept each other nonces; another secret does not', async function () {
      const one = api({ dpop: { nonce: { secret } } }).app;
      const two = api({ dpop: { nonce: { secret } } }).app;
      const three = api({ dpop: { nonce: { secret: 'another-secret-of-at-least-32-bytes!!' } } }).app;
      const token = await as.sign({ ...key.cnf });
      const nonce = (await call(one, token, await proof(token))).headers['dpop-nonce']!;
      assert.equal((await call(two, token, await proof(token, { nonce }))).status, 200);
      assert.equal((await call(three, token, await proof(token, { nonce }))).status, 401);
    });

    it('a nonce expires after two time steps', async function () {
      this.timeout(10_000);
      const { app } = api({ dpop: { nonce: { secret, step: 1 } } });
      const token = await as.sign({ ...key.cnf });
      const nonce = (await call(app, token, await proof(token))).headers['dpop-nonce']!;
      await sleep(2100);
      const res = await call(app, token, await proof(token, { nonce }));
      assert.equal(res.status, 401);
      assert.notEqual(res.headers['dpop-nonce'], nonce);
    });
  });

  describe('options', function () {
    const base = () => ({ issuer: as.issuer, audience: as.audience, jwksUri: as.jwksUri });
    const refused = (options: Record<string, unknown>, code: string, message: RegExp) => {
      assert.throws(
        () => authenticate({ ...base(), ...options }),
        (error: unknown) =>
          error instanceof ConfigurationError && error.code === code && message.test(error.message),
      );
    };

    it('are validated at construction with actionable messages', function () {
      refused(
        { dpop: {} },
        'ERR_BEARER_CONFIG_MISSING_OPTION',
        /`dpop` needs the URL clients call: set `publicUrl`/,
      );
      refused(
        { publicUrl: 'https://x.example/?a=1', dpop: {} },
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        /`publicUrl`/,
      );
      refused(
        { publicUrl: 'http://x.example', dpop: {} },
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        /`publicUrl` is a plain http URL/,
      );
      refused(
        { publicUrl: PUBLIC_URL, dpop: { algorithms: ['HS256'] } },
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        /`dpop.algorithms\[0\]` must be an asymmetric/,
      );
      refused(
        { publicUrl: PUBLIC_URL, dpop: { algorithms: ['none'] } },
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        /never none/,
      );
      refused(
        { publicUrl: PUBLIC_URL, dpop: { nonce: { secret: 'short' } } },
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        /at least 32 bytes/,
      );
      refused(
        { publicUrl: PUBLIC_URL, dpop: { iatWindow: 0 } },
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        /`dpop.iatWindow`/,
      );
      refused(
        { publicUrl: PUBLIC_URL, dpop: { replayStore: {} } },
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        /setIfAbsent/,
      );
      refused(
        { publicUrl: PUBLIC_URL, dpop: { requierd: true } },
        'ERR_BEARER_CONFIG_UNKNOWN_OPTION',
        /required/,
      );
      refused(
        { trustProxy: ['not-an-ip'] },
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        /`trustProxy\[0\]` must be an IP address/,
      );
      refused({ trustProxy: [] }, 'ERR_BEARER_CONFIG_INVALID_OPTION', /`trustProxy`/);
    });
  });
});
