import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';

import { authenticate, ConfigurationError, createGuard, errorHandler } from '@bearer-guard/express';
import type { SingleIssuerOptions } from '@bearer-guard/express';
import { startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub, BadTokens, EndpointBehaviour } from '@bearer-guard/testkit';
import express from 'express';
import request from 'supertest';

import {
  assertErrorBody,
  DESCRIPTION,
  invalidRequest,
  invalidToken,
  nowSeconds,
  probe,
  SHORT_TIMEOUT,
  signEs256,
  timed,
  TIMEOUT,
} from './support.js';

function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

describe('authenticate()', function () {
  let as: AuthorizationServerStub;

  before(async function () {
    as = await startAuthorizationServer();
  });

  after(async function () {
    await as.close();
  });

  afterEach(function () {
    as.setBehaviour('jwks', { mode: 'ok' });
    as.setBehaviour('oauthMetadata', { mode: 'ok' });
    as.setBehaviour('openidConfiguration', { mode: 'ok' });
  });

  /** A fresh guard (own key cache) in front of GET and POST /orders, with `errorHandler()` unless told otherwise. */
  function orders(
    options: Partial<SingleIssuerOptions> = {},
    { withErrorHandler = true, bodyParser = false } = {},
  ) {
    const route = probe();
    const app = express();
    app.set('env', 'test'); // keep Express's default handler from logging expected errors
    if (bodyParser) app.use(express.urlencoded({ extended: false }));
    app.use(
      authenticate({
        issuer: as.issuer,
        audience: as.audience,
        jwksUri: as.jwksUri,
        timeout: TIMEOUT,
        ...options,
      }),
    );
    app.get('/orders', route.handler);
    app.post('/orders', route.handler);
    if (withErrorHandler) app.use(errorHandler());
    return { app, route };
  }

  describe('with a valid token', function () {
    it('answers 200 and sets req.auth to a frozen principal', async function () {
      const { app, route } = orders();
      const token = await as.sign({
        sub: 'alice',
        client_id: 'orders-web',
        scope: 'orders:read orders:write',
      });

      const res = await request(app).get('/orders').set('Authorization', `Bearer ${token}`);

      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { ok: true, subject: 'alice' });
      assert.equal(res.headers['www-authenticate'], undefined);
      assert.equal(route.calls, 1);
      const principal = route.principals[0];
      assert.ok(principal !== undefined);
      assert.equal(principal.source, 'jwt');
      assert.equal(principal.token, token);
      assert.equal(principal.subject, 'alice');
      assert.equal(principal.clientId, 'orders-web');
      assert.equal(principal.issuer, as.issuer);
      assert.deepEqual(principal.scopes, ['orders:read', 'orders:write']);
      assert.deepEqual(principal.audience, [as.audience]);
      assert.ok(principal.expiresAt instanceof Date);
      assert.equal(principal.expiresAt.getTime(), (claimsOf(token)['exp'] as number) * 1000);
      assert.equal(principal.claims['jti'], claimsOf(token)['jti']);
      assert.ok(Object.isFrozen(principal));
      assert.ok(Object.isFrozen(principal.claims));
    });

    it('gives an array aud as the audience array and falls back to azp for clientId', async function () {
      const { app, route } = orders();
      const token = await as.sign({
        aud: ['https://other.example', as.audience],
        client_id: undefined,
        azp: 'spa',
      });

      const res = await request(app).get('/orders').set('Authorization', `Bearer ${token}`);

      assert.equal(res.status, 200);
      const principal = route.principals[0];
      assert.ok(principal !== undefined);
      assert.deepEqual(principal.audience, ['https://other.example', as.audience]);
      assert.equal(principal.clientId, 'spa');
    });

    it('accepts a guard built with createGuard()', async function () {
      const guard = createGuard({ issuer: as.issuer, audience: as.audience, jwksUri: as.jwksUri });
      const middleware = authenticate(guard);
      assert.equal(middleware.guard, guard);
      const route = probe();
      const app = express().use(middleware).get('/orders', route.handler).use(errorHandler());

      const res = await request(app)
        .get('/orders')
        .set('Authorization', `Bearer ${await as.sign()}`);

      assert.equal(res.status, 200);
      assert.equal(route.calls, 1);
    });
  });

  describe('without a token', function () {
    it('answers 401 with a bare challenge: Bearer realm="api", no error parameter', async function () {
      const { app, route } = orders();

      const res = await request(app).get('/orders');

      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="api"');
      assertErrorBody(res.body, 'unauthorized');
      assert.equal(route.calls, 0);
    });

    it('treats another scheme (Basic) as no bearer credentials: 401 bare challenge', async function () {
      const { app, route } = orders();

      const res = await request(app).get('/orders').set('Authorization', 'Basic dXNlcjpwYXNz');

      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="api"');
      assert.equal(route.calls, 0);
    });

    it('uses the configured realm', async function () {
      const { app } = orders({ realm: 'orders' });

      const missing = await request(app).get('/orders');
      const expired = await request(app)
        .get('/orders')
        .set('Authorization', `Bearer ${await as.bad.expired()}`);

      assert.equal(missing.headers['www-authenticate'], 'Bearer realm="orders"');
      assert.equal(expired.headers['www-authenticate'], invalidToken(DESCRIPTION.expired, 'orders'));
    });

    it('advertises resourceMetadata as resource_metadata (RFC 9728) in every challenge', async function () {
      const metadata = 'https://orders.example/.well-known/oauth-protected-resource';
      const { app } = orders({ resourceMetadata: metadata });

      const missing = await request(app).get('/orders');
      const malformed = await request(app).get('/orders').set('Authorization', 'Bearer');
      const expired = await request(app)
        .get('/orders')
        .set('Authorization', `Bearer ${await as.bad.expired()}`);

      assert.equal(missing.status, 401);
      assert.equal(
        missing.headers['www-authenticate'],
        `Bearer realm="api", resource_metadata="${metadata}"`,
      );
      assert.equal(
        malformed.headers['www-authenticate'],
        `${invalidRequest(DESCRIPTION.headerMalformed)}, resource_metadata="${metadata}"`,
      );
      assert.equal(
        expired.headers['www-authenticate'],
        `${invalidToken(DESCRIPTION.expired)}, resource_metadata="${metadata}"`,
      );
    });
  });

  describe('with a malformed Authorization header', function () {
    for (const [label, value] of [
      ['"Bearer" alone', 'Bearer'],
      ['two tokens', 'Bearer abc def'],
      ['a quoted token', 'Bearer "abc"'],
      ['a comma-joined second scheme', 'Bearer abc, Basic xyz'],
      ['a non-b64token character', 'Bearer abc!def'],
      ['latin1 characters', 'Bearer t\u00f6k\u00e9n'],
    ] as const) {
      it(`answers 400 invalid_request for ${label}`, async function () {
        const { app, route } = orders();

        const res = await request(app).get('/orders').set('Authorization', value);

        assert.equal(res.status, 400);
        assert.equal(res.headers['www-authenticate'], invalidRequest(DESCRIPTION.headerMalformed));
        assertErrorBody(res.body, 'invalid_request', DESCRIPTION.headerMalformed);
        assert.equal(route.calls, 0);
      });
    }
  });

  describe('with a bad token from the testkit', function () {
    const cases: [keyof BadTokens, string][] = [
      ['expired', DESCRIPTION.expired],
      ['notYetValid', DESCRIPTION.notYetValid],
      ['wrongAudience', DESCRIPTION.audienceInvalid],
      ['wrongIssuer', DESCRIPTION.issuerInvalid],
      ['algNone', DESCRIPTION.algorithmRejected],
      ['hs256WithPublicKey', DESCRIPTION.algorithmRejected],
      ['unknownKid', DESCRIPTION.keyUnknown],
      ['embeddedJwk', DESCRIPTION.keyUnknown],
      ['jku', DESCRIPTION.keyUnknown],
      ['x5u', DESCRIPTION.keyUnknown],
      ['tampered', DESCRIPTION.signatureInvalid],
      ['missingExp', DESCRIPTION.claimInvalid],
    ];
    for (const [name, description] of cases) {
      it(`refuses bad.${name}() with 401 invalid_token and never runs the handler`, async function () {
        const { app, route } = orders();
        const token = await as.bad[name]();
        const attackerHits = as.attackerHits;

        const res = await request(app).get('/orders').set('Authorization', `Bearer ${token}`);

        assert.equal(res.status, 401);
        assert.equal(res.headers['www-authenticate'], invalidToken(description));
        assertErrorBody(res.body, 'invalid_token', description);
        assert.equal(route.calls, 0);
        assert.equal(as.attackerHits, attackerHits, 'jku / x5u must never be fetched');
      });
    }

    it('refuses a token whose typ is not an access-token type', async function () {
      const { app, route } = orders();
      const token = await as.sign({}, { typ: 'id_token+jwt' });

      const res = await request(app).get('/orders').set('Authorization', `Bearer ${token}`);

      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], invalidToken(DESCRIPTION.typeInvalid));
      assert.equal(route.calls, 0);
    });
  });

  describe('when the key set is unreachable', function () {
    const behaviours: [string, EndpointBehaviour][] = [
      ['down (500)', { mode: 'fail' }],
      ['hanging past the timeout', { mode: 'hang' }],
      ['answering garbage', { mode: 'garbage' }],
      ['answering HTML', { mode: 'html' }],
      ['answering too large a document', { mode: 'huge', bytes: 600_000 }],
      ['redirecting', { mode: 'redirect', location: 'https://evil.example/jwks' }],
    ];
    for (const [label, behaviour] of behaviours) {
      it(`answers 503 with Retry-After and no challenge when the JWKS is ${label}`, async function () {
        const { app, route } = orders({ timeout: SHORT_TIMEOUT });
        as.setBehaviour('jwks', behaviour);
        const token = await as.sign();

        const { result: res, ms } = await timed(async () =>
          request(app).get('/orders').set('Authorization', `Bearer ${token}`),
        );

        assert.equal(res.status, 503);
        assert.equal(res.headers['retry-after'], '5');
        assert.equal(res.headers['www-authenticate'], undefined);
        assertErrorBody(res.body, 'temporarily_unavailable', DESCRIPTION.jwksUnavailable);
        assert.equal(route.calls, 0);
        assert.ok(ms < 2000, `answered in ${String(ms)} ms`);
      });
    }

    it('derives Retry-After from jwksCache.cooldown', async function () {
      const { app } = orders({ jwksCache: { cooldown: 2000 } });
      as.setBehaviour('jwks', { mode: 'fail', status: 502 });

      const res = await request(app)
        .get('/orders')
        .set('Authorization', `Bearer ${await as.sign()}`);

      assert.equal(res.status, 503);
      assert.equal(res.headers['retry-after'], '2');
    });

    it('answers 503 (discovery) when the issuer metadata is unreachable and no jwksUri is given', async function () {
      const { app, route } = orders({ jwksUri: undefined });
      as.setBehaviour('oauthMetadata', { mode: 'fail' });
      as.setBehaviour('openidConfiguration', { mode: 'fail' });

      const res = await request(app)
        .get('/orders')
        .set('Authorization', `Bearer ${await as.sign()}`);

      assert.equal(res.status, 503);
      assert.equal(res.headers['retry-after'], '5');
      assert.equal(res.headers['www-authenticate'], undefined);
      assertErrorBody(res.body, 'temporarily_unavailable', DESCRIPTION.discoveryUnavailable);
      assert.equal(route.calls, 0);
    });

    it('still answers 401 bare for a request without a token (no key is needed for that)', async function () {
      const { app } = orders();
      as.setBehaviour('jwks', { mode: 'fail' });

      const res = await request(app).get('/orders');

      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="api"');
    });

    it('ready() rejects with ERR_BEARER_CONFIG_ISSUER_UNUSABLE', async function () {
      as.setBehaviour('jwks', { mode: 'fail' });
      const middleware = authenticate({
        issuer: as.issuer,
        audience: as.audience,
        jwksUri: as.jwksUri,
      });

      await assert.rejects(middleware.ready(), (error: unknown) => {
        assert.ok(error instanceof ConfigurationError);
        assert.equal(error.code, 'ERR_BEARER_CONFIG_ISSUER_UNUSABLE');
        assert.ok(error.cause !== undefined);
        return true;
      });
    });
  });

  describe("without errorHandler(): Express's default handler", function () {
    it('answers 401 with the bare challenge', async function () {
      const { app, route } = orders({}, { withErrorHandler: false });

      const res = await request(app).get('/orders');

      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="api"');
      assert.equal(route.calls, 0);
    });

    it('answers 401 with the invalid_token challenge', async function () {
      const { app, route } = orders({}, { withErrorHandler: false });

      const res = await request(app)
        .get('/orders')
        .set('Authorization', `Bearer ${await as.bad.tampered()}`);

      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], invalidToken(DESCRIPTION.signatureInvalid));
      assert.equal(route.calls, 0);
    });

    it('answers 400 with the invalid_request challenge', async function () {
      const { app } = orders({}, { withErrorHandler: false });

      const res = await request(app).get('/orders').set('Authorization', 'Bearer a b');

      assert.equal(res.status, 400);
      assert.equal(res.headers['www-authenticate'], invalidRequest(DESCRIPTION.headerMalformed));
    });

    it('answers 503 with Retry-After and no challenge', async function () {
      const { app, route } = orders({}, { withErrorHandler: false });
      as.setBehaviour('jwks', { mode: 'fail' });

      const res = await request(app)
        .get('/orders')
        .set('Authorization', `Bearer ${await as.sign()}`);

      assert.equal(res.status, 503);
      assert.equal(res.headers['retry-after'], '5');
      assert.equal(res.headers['www-authenticate'], undefined);
      assert.equal(route.calls, 0);
    });
  });

  describe('credentialsRequired: false', function () {
    it('lets an anonymous request through without req.auth', async function () {
      const { app, route } = orders({ credentialsRequired: false });

      const res = await request(app).get('/orders');

      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { ok: true, subject: null });
      assert.equal(route.calls, 1);
      assert.equal(route.principals[0], undefined);
      assert.equal(route.lastHadAuth, false, 'req.auth must not even be set to undefined');
    });

    it('still authenticates a valid token', async function () {
      const { app, route } = orders({ credentialsRequired: false });

      const res = await request(app)
        .get('/orders')
        .set('Authorization', `Bearer ${await as.sign({ sub: 'bob' })}`);

      assert.equal(res.status, 200);
      assert.equal(route.principals[0]?.subject, 'bob');
    });

    it('still refuses a bad token with 401 invalid_token', async function () {
      const { app, route } = orders({ credentialsRequired: false });

      const res = await request(app)
        .get('/orders')
        .set('Authorization', `Bearer ${await as.bad.expired()}`);

      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], invalidToken(DESCRIPTION.expired));
      assert.equal(route.calls, 0);
    });

    it('still refuses a malformed header with 400', async function () {
      const { app, route } = orders({ credentialsRequired: false });

      const res = await request(app).get('/orders').set('Authorization', 'Bearer');

      assert.equal(res.status, 400);
      assert.equal(route.calls, 0);
    });
  });

  describe('token locations', function () {
    it('ignores ?access_token by default', async function () {
      const { app, route } = orders();

      const res = await request(app)
        .get('/orders')
        .query({ access_token: await as.sign() });

      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="api"');
      assert.equal(route.calls, 0);
    });

    it('accepts ?access_token with tokenLocations.query', async function () {
      const { app, route } = orders({ tokenLocations: { query: true } });

      const res = await request(app)
        .get('/orders')
        .query({ access_token: await as.sign({ sub: 'q' }) });

      assert.equal(res.status, 200);
      assert.equal(route.principals[0]?.subject, 'q');
    });

    it('refuses a repeated or empty ?access_token with 400', async function () {
      const { app, route } = orders({ tokenLocations: { query: true } });
      const token = await as.sign();

      const repeated = await request(app).get(`/orders?access_token=${token}&access_token=${token}`);
      const empty = await request(app).get('/orders?access_token=');

      for (const res of [repeated, empty]) {
        assert.equal(res.status, 400);
        assert.equal(res.headers['www-authenticate'], invalidRequest(DESCRIPTION.headerMalformed));
      }
      assert.equal(route.calls, 0);
    });

    it('refuses a token in the header and the query with 400 (RFC 6750 §2)', async function () {
      const { app, route } = orders({ tokenLocations: { query: true } });
      const token = await as.sign();

      const res = await request(app)
        .get('/orders')
        .query({ access_token: token })
        .set('Authorization', `Bearer ${token}`);

      assert.equal(res.status, 400);
      assert.equal(res.headers['www-authenticate'], invalidRequest(DESCRIPTION.multipleMethods));
      assertErrorBody(res.body, 'invalid_request', DESCRIPTION.multipleMethods);
      assert.equal(route.calls, 0);
    });

    it('accepts a form-body access_token with express.urlencoded() and tokenLocations.body', async function () {
      const { app, route } = orders({ tokenLocations: { body: true } }, { bodyParser: true });

      const res = await request(app)
        .post('/orders')
        .type('form')
        .send({ access_token: await as.sign({ sub: 'form' }) });

      assert.equal(res.status, 200);
      assert.equal(route.principals[0]?.subject, 'form');
    });

    it('ignores a form-body access_token without tokenLocations.body', async function () {
      const { app, route } = orders({}, { bodyParser: true });

      const res = await request(app)
        .post('/orders')
        .type('form')
        .send({ access_token: await as.sign() });

      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="api"');
      assert.equal(route.calls, 0);
    });

    it('cannot see a form-body access_token without express.urlencoded()', async function () {
      const { app, route } = orders({ tokenLocations: { body: true } });

      const res = await request(app)
        .post('/orders')
        .type('form')
        .send({ access_token: await as.sign() });

      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="api"');
      assert.equal(route.calls, 0);
    });

    it('ignores access_token in a JSON body (RFC 6750 §2.2 is form-encoded only)', async function () {
      const route = probe();
      const app = express()
        .use(express.json())
        .use(
          authenticate({
            issuer: as.issuer,
            audience: as.audience,
            jwksUri: as.jwksUri,
            tokenLocations: { body: true },
          }),
        )
        .post('/orders', route.handler)
        .use(errorHandler());

      const res = await request(app)
        .post('/orders')
        .send({ access_token: await as.sign() });

      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="api"');
      assert.equal(route.calls, 0);
    });

    it('refuses a token in the header and the form body with 400', async function () {
      const { app, route } = orders({ tokenLocations: { body: true } }, { bodyParser: true });
      const token = await as.sign();

      const res = await request(app)
        .post('/orders')
        .set('Authorization', `Bearer ${token}`)
        .type('form')
        .send({ access_token: token });

      assert.equal(res.status, 400);
      assert.equal(res.headers['www-authenticate'], invalidRequest(DESCRIPTION.multipleMethods));
      assert.equal(route.calls, 0);
    });
  });

  describe('options', function () {
    it('throws a ConfigurationError naming a misspelt option at construction', function () {
      assert.throws(
        // @ts-expect-error -- a type error too: `audiance` is not an option and `audience` is missing
        () => authenticate({ issuer: as.issuer, audiance: as.audience }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigurationError);
          assert.equal(error.code, 'ERR_BEARER_CONFIG_UNKNOWN_OPTION');
          assert.match(error.message, /did you mean `audience`\?/);
          return true;
        },
      );
    });

    // Regression: core's staticKey() called createPublicKey() on every KeyObject, which Node refuses for
    // a KeyObject that is already public (ERR_CRYPTO_INVALID_KEY_OBJECT_TYPE).
    it('accepts a public KeyObject as publicKey (README: "SPKI PEM, public JWK or KeyObject")', async function () {
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const route = probe();
      const app = express()
        .use(authenticate({ issuer: 'https://as.example', audience: 'https://orders.example', publicKey }))
        .get('/orders', route.handler)
        .use(errorHandler());
      const token = signEs256(
        privateKey,
        JSON.stringify({
          iss: 'https://as.example',
          aud: 'https://orders.example',
          sub: 'k',
          exp: nowSeconds() + 60,
        }),
      );

      const res = await request(app).get('/orders').set('Authorization', `Bearer ${token}`);

      assert.equal(res.status, 200);
      assert.equal(route.principals[0]?.subject, 'k');
    });
  });
});
