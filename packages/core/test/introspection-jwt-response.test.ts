import assert from 'node:assert/strict';
import { createGuard, type GuardEventMap, type SingleIssuerOptions } from '@bearer-guard/core';
import { startAuthorizationServer, type AuthorizationServerStub } from '@bearer-guard/testkit';
import { generateKeyPair, SignJWT } from 'jose';

// RFC 9701: JWT responses for token introspection, verified with the issuer's keys.
describe('introspection with RFC 9701 JWT responses', () => {
  let as: AuthorizationServerStub;

  before(async () => {
    as = await startAuthorizationServer({ algorithms: ['ES256'] });
  });
  after(() => as.close());
  afterEach(() => {
    as.setBehaviour('introspection', { mode: 'ok' });
  });

  const options = (
    extra: Partial<SingleIssuerOptions['introspection'] & object> = {},
  ): SingleIssuerOptions => ({
    issuer: as.issuer,
    audience: as.audience,
    introspection: { ...as.introspectionClient, jwtResponse: true, ...extra },
  });

  it('asks for a JWT answer and accepts one signed with the issuer key (keys by discovery)', async () => {
    const guard = createGuard(options());
    const principal = await guard.verify(as.issueOpaqueToken({ scope: 'read' }));
    assert.equal(principal.source, 'introspection');
    assert.deepEqual(principal.scopes, ['read']);
    assert.match(String(as.lastIntrospectionRequest?.accept), /application\/token-introspection\+jwt/);
  });

  it('accepts an ES256 answer with an explicit endpoint and jwksUri (the allow-list, not RS256 only)', async () => {
    const guard = createGuard({ ...options({ endpoint: as.introspectionEndpoint }), jwksUri: as.jwksUri });
    const principal = await guard.verify(as.issueOpaqueToken({ scope: 'read' }));
    assert.equal(principal.source, 'introspection');
  });

  it('refuses a JWT answer signed by another key: 503 with reason "signature", never a pass', async () => {
    const guard = createGuard(options());
    const reasons: GuardEventMap['introspection.failed']['reason'][] = [];
    guard.on('introspection.failed', (event) => reasons.push(event.reason));
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT({
      token_introspection: { active: true, scope: 'read admin', aud: as.audience, iss: as.issuer },
    })
      .setProtectedHeader({
        alg: 'ES256',
        typ: 'token-introspection+jwt',
        kid: as.jwks().keys[0]?.['kid'] as string,
      })
      .setIssuer(as.issuer)
      .setAudience(as.introspectionClient.clientId)
      .setIssuedAt()
      .sign(privateKey);
    as.setBehaviour('introspection', {
      mode: 'json',
      body: forged,
      contentType: 'application/token-introspection+jwt',
    });
    await assert.rejects(guard.verify(as.issueOpaqueToken()), {
      code: 'ERR_BEARER_INTROSPECTION_UNAVAILABLE',
      status: 503,
    });
    assert.deepEqual(reasons, ['signature']);
  });

  it('compares the JWT media type case-insensitively, parameters allowed', async () => {
    const guard = createGuard(options());
    const answer = await as.sign(
      {
        aud: as.introspectionClient.clientId,
        token_introspection: { active: true, scope: 'read', aud: as.audience, iss: as.issuer },
      },
      { typ: 'token-introspection+jwt' },
    );
    as.setBehaviour('introspection', {
      mode: 'json',
      body: answer,
      contentType: 'Application/Token-Introspection+JWT; charset=utf-8',
    });
    const principal = await guard.verify('opaque-token');
    assert.deepEqual(principal.scopes, ['read']);
  });

  it('refuses a plain JSON answer when a JWT answer was asked for', async () => {
    const guard = createGuard(options());
    const reasons: string[] = [];
    guard.on('introspection.failed', (event) => reasons.push(event.reason));
    as.setBehaviour('introspection', {
      mode: 'json',
      body: { active: true, scope: 'read', aud: as.audience },
    });
    await assert.rejects(guard.verify(as.issueOpaqueToken()), {
      code: 'ERR_BEARER_INTROSPECTION_UNAVAILABLE',
    });
    assert.equal(reasons.length, 1);
  });
});
