import assert from 'node:assert/strict';
import {
  authenticate,
  errorHandler,
  requireScopes,
  type GuardEventMap,
  type GuardOptions,
} from '@bearer-guard/express';
import express, { type Express } from 'express';
import request from 'supertest';
import {
  JWT_RESOURCE,
  OPAQUE_RESOURCE,
  startOidcProvider,
  type OidcProviderFixture,
} from '../support/oidc-provider.js';

const INTROSPECTION = '/token/introspection';
type Options = GuardOptions;

describe('introspection against a real node-oidc-provider', () => {
  let op: OidcProviderFixture;
  let handled: number;

  before(async () => {
    op = await startOidcProvider();
  });
  after(() => op.close());
  beforeEach(() => {
    handled = 0;
  });

  const introspections = (): number => op.requests.get(INTROSPECTION) ?? 0;

  function protectedApp(
    options: Options,
    scope = 'read',
  ): { app: Express; auth: ReturnType<typeof authenticate> } {
    const auth = authenticate(options);
    const app = express();
    app.use(auth);
    app.get('/data', requireScopes(scope), (req, res) => {
      handled += 1;
      res.json({ source: req.auth?.source, scopes: req.auth?.scopes, clientId: req.auth?.clientId });
    });
    app.use(errorHandler());
    return { app, auth };
  }

  const opaqueOnly = (extra: Record<string, unknown> = {}): Options => ({
    issuer: op.issuer,
    audience: OPAQUE_RESOURCE,
    introspection: {
      clientId: op.resourceServer.clientId,
      clientSecret: op.resourceServer.clientSecret,
      ...extra,
    },
  });

  it('accepts an active opaque token, with the principal from the introspection answer', async () => {
    const { app } = protectedApp(opaqueOnly());
    const token = await op.token(OPAQUE_RESOURCE, 'read write');
    const res = await request(app).get('/data').set('Authorization', `Bearer ${token}`).expect(200);
    assert.deepEqual(res.body, { source: 'introspection', scopes: ['read', 'write'], clientId: 'caller' });
  });

  it('answers 403 insufficient_scope when the introspected scopes lack the route scope', async () => {
    const { app } = protectedApp(opaqueOnly(), 'admin');
    const token = await op.token(OPAQUE_RESOURCE, 'read');
    const res = await request(app).get('/data').set('Authorization', `Bearer ${token}`).expect(403);
    assert.match(String(res.headers['www-authenticate']), /error="insufficient_scope".*scope="admin"$/);
    assert.equal(handled, 0);
  });

  it('introspects a token once however often and however concurrently it is used', async () => {
    const { app } = protectedApp(opaqueOnly());
    const token = await op.token(OPAQUE_RESOURCE, 'read');
    const before = introspections();
    const answers = await Promise.all(
      Array.from({ length: 30 }, () => request(app).get('/data').set('Authorization', `Bearer ${token}`)),
    );
    assert.deepEqual(new Set(answers.map((res) => res.status)), new Set([200]));
    for (let i = 0; i < 5; i++)
      await request(app).get('/data').set('Authorization', `Bearer ${token}`).expect(200);
    assert.equal(introspections() - before, 1);
  });

  it('refuses a token issued for another resource (aud), and an unknown token', async () => {
    const { app } = protectedApp({ ...opaqueOnly(), audience: 'https://other.example' });
    const token = await op.token(OPAQUE_RESOURCE, 'read');
    const res = await request(app).get('/data').set('Authorization', `Bearer ${token}`).expect(401);
    assert.equal(res.body.error_description, 'The access token is not meant for this resource.');
    const unknown = await request(app)
      .get('/data')
      .set('Authorization', 'Bearer not-a-real-token')
      .expect(401);
    assert.equal(unknown.body.error_description, 'The access token is not active.');
    assert.equal(handled, 0);
  });

  it('sees a revocation once the cache bound has passed', async function () {
    this.timeout(10_000);
    const { app } = protectedApp(opaqueOnly({ cache: { maxSeconds: 1 } }));
    const token = await op.token(OPAQUE_RESOURCE, 'read');
    await request(app).get('/data').set('Authorization', `Bearer ${token}`).expect(200);
    await op.revoke(token);
    // Still cached: the bound is the documented trade-off.
    await request(app).get('/data').set('Authorization', `Bearer ${token}`).expect(200);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await request(app).get('/data').set('Authorization', `Bearer ${token}`).expect(401);
  });

  it('validates a JWT from the same issuer locally, without an introspection call', async () => {
    const { app } = protectedApp({
      issuer: op.issuer,
      audience: [OPAQUE_RESOURCE, JWT_RESOURCE],
      jwksUri: `${op.issuer}/jwks`,
      introspection: { clientId: op.resourceServer.clientId, clientSecret: op.resourceServer.clientSecret },
    });
    const jwt = await op.token(JWT_RESOURCE, 'read');
    const opaque = await op.token(OPAQUE_RESOURCE, 'read');
    const before = introspections();
    const local = await request(app).get('/data').set('Authorization', `Bearer ${jwt}`).expect(200);
    assert.equal(local.body.source, 'jwt');
    assert.equal(introspections(), before);
    const remote = await request(app).get('/data').set('Authorization', `Bearer ${opaque}`).expect(200);
    assert.equal(remote.body.source, 'introspection');
    assert.equal(introspections(), before + 1);
  });

  it('by default (issuer + introspection, nothing else) validates its JWTs locally and introspects opaque tokens', async () => {
    // node-oidc-provider refuses to introspect its JWT access tokens (400 unsupported_token_type):
    // introspected, every JWT would be a 503.
    const { app, auth } = protectedApp({ ...opaqueOnly(), audience: [OPAQUE_RESOURCE, JWT_RESOURCE] });
    const jwt = await op.token(JWT_RESOURCE, 'read');
    const opaque = await op.token(OPAQUE_RESOURCE, 'read');
    const before = introspections();
    const keysBefore = op.requests.get('/jwks') ?? 0;

    const local = await request(app).get('/data').set('Authorization', `Bearer ${jwt}`).expect(200);

    assert.deepEqual(local.body, { source: 'jwt', scopes: ['read'], clientId: 'caller' });
    assert.equal(introspections(), before);
    assert.equal((op.requests.get('/jwks') ?? 0) - keysBefore, 1, 'the keys at the discovered jwks_uri');
    const remote = await request(app).get('/data').set('Authorization', `Bearer ${opaque}`).expect(200);
    assert.equal(remote.body.source, 'introspection');
    assert.equal(introspections(), before + 1);
    await auth.guard.ready();
  });

  it('refuses forged JWTs naming another issuer without a call, so they cannot open the breaker', async () => {
    const { app } = protectedApp(opaqueOnly({ breaker: { failureThreshold: 2, cooldown: 60_000 } }));
    const jwt = await op.token(JWT_RESOURCE, 'read');
    const [header = '', , signature = ''] = jwt.split('.');
    const before = introspections();
    for (let i = 0; i < 5; i++) {
      const claims = Buffer.from(JSON.stringify({ iss: `https://forged-${String(i)}.example`, exp: 2e9 }));
      const forged = `${header}.${claims.toString('base64url')}.${signature}`;
      const res = await request(app).get('/data').set('Authorization', `Bearer ${forged}`).expect(401);
      assert.equal(res.body.error_description, 'The access token was not issued by a trusted issuer.');
    }
    assert.equal(introspections(), before);
    const opaque = await op.token(OPAQUE_RESOURCE, 'read');
    await request(app).get('/data').set('Authorization', `Bearer ${opaque}`).expect(200);
  });

  it('with introspectJwts, a server that will not introspect JWTs (400 unsupported_token_type) refuses them as inactive', async () => {
    // node-oidc-provider answers 400 unsupported_token_type for structured (JWT) access tokens: an
    // answer about the token (RFC 7662 §2.2 would say `"active": false`), not an outage. Such a
    // server needs `localJwts`, not `introspectJwts`.
    const { app, auth } = protectedApp({
      issuer: op.issuer,
      audience: JWT_RESOURCE,
      jwksUri: `${op.issuer}/jwks`,
      introspection: {
        clientId: op.resourceServer.clientId,
        clientSecret: op.resourceServer.clientSecret,
        introspectJwts: true,
      },
    });
    const reasons: string[] = [];
    auth.guard.on('introspection.failed', (event) => reasons.push(event.reason));
    const before = introspections();
    const jwt = await op.token(JWT_RESOURCE, 'read');
    const res = await request(app).get('/data').set('Authorization', `Bearer ${jwt}`).expect(401);
    assert.equal(res.body.error_description, 'The access token is not active.');
    assert.equal(introspections() - before, 1);
    assert.deepEqual(reasons, []);
    assert.equal(handled, 0);
  });

  it('many forged tokens never open the breaker: a valid opaque token still gets 200', async () => {
    const { app, auth } = protectedApp(opaqueOnly({ breaker: { failureThreshold: 2, cooldown: 60_000 } }));
    const failures: string[] = [];
    const states: string[] = [];
    auth.guard.on('introspection.failed', (event) => failures.push(event.reason));
    auth.guard.on('circuit.state', (event) => states.push(event.state));
    // JWS-shaped forgeries are refused before any call (routing); what still reaches the server is
    // what we cannot read: JWE-shaped tokens and opaque garbage.
    const jwe = (i: number) =>
      [
        Buffer.from(JSON.stringify({ alg: 'dir', enc: 'A128GCM' })).toString('base64url'),
        '',
        'AAAAAAAAAAAAAAAA',
        `forged-${String(i)}`,
        'AAAAAAAAAAAAAAAAAAAAAA',
      ].join('.');
    const forged = [
      ...Array.from({ length: 6 }, (_, i) => jwe(i)),
      // Opaque garbage: answered `"active": false`.
      ...Array.from({ length: 4 }, (_, i) => `garbage-${String(i)}-${'x'.repeat(40)}`),
    ];
    const before = introspections();
    for (const token of forged) {
      const res = await request(app).get('/data').set('Authorization', `Bearer ${token}`).expect(401);
      assert.equal(res.body.error_description, 'The access token is not active.');
    }
    assert.equal(introspections() - before, forged.length, 'every forged token reached the server');
    const token = await op.token(OPAQUE_RESOURCE, 'read');
    await request(app).get('/data').set('Authorization', `Bearer ${token}`).expect(200);
    assert.deepEqual(failures, []);
    assert.deepEqual(states, []);
    assert.equal(handled, 1);
  });

  it('turns wrong introspection credentials into 503 and an event, never 401', async () => {
    const { app, auth } = protectedApp({
      issuer: op.issuer,
      audience: OPAQUE_RESOURCE,
      introspection: { clientId: op.resourceServer.clientId, clientSecret: 'wrong-secret' },
    });
    const events: GuardEventMap['introspection.failed'][] = [];
    auth.guard.on('introspection.failed', (event) => events.push(event));
    const token = await op.token(OPAQUE_RESOURCE, 'read');
    const res = await request(app).get('/data').set('Authorization', `Bearer ${token}`).expect(503);
    assert.equal(res.body.error, 'temporarily_unavailable');
    assert.ok(Number(res.headers['retry-after']) >= 1);
    assert.equal(res.headers['www-authenticate'], undefined);
    assert.equal(events.length, 1);
    assert.equal(events[0]?.reason, 'client-authentication');
    assert.equal(handled, 0);
  });

  it('answers 503 while the authorization server is down, and recovers', async function () {
    this.timeout(15_000);
    const { app } = protectedApp(
      opaqueOnly({ timeout: 500, breaker: { failureThreshold: 2, cooldown: 300 } }),
    );
    const token = await op.token(OPAQUE_RESOURCE, 'read');
    const fresh = await op.token(OPAQUE_RESOURCE, 'read');
    await op.stop();
    try {
      await request(app).get('/data').set('Authorization', `Bearer ${token}`).expect(503);
    } finally {
      await op.start();
    }
    await new Promise((resolve) => setTimeout(resolve, 350));
    await request(app).get('/data').set('Authorization', `Bearer ${fresh}`).expect(200);
  });
});
