import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

import { accessTokenHash, createDpopProof, generateDpopKey } from '@bearer-guard/testkit';
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify } from 'jose';

describe('testkit: DPoP proof maker (RFC 9449 §4.2)', function () {
  it('signs a dpop+jwt proof with the public jwk in its header, htu without query, and ath', async function () {
    const key = await generateDpopKey();
    const proof = await createDpopProof(key, {
      htm: 'GET',
      htu: 'https://api.example/orders?page=2#x',
      accessToken: 'token-123',
      nonce: 'n-1',
    });
    const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt' });
    assert.equal(protectedHeader.alg, 'ES256');
    assert.equal((protectedHeader.jwk as Record<string, unknown> | undefined)?.['d'], undefined);
    assert.equal(payload['htm'], 'GET');
    assert.equal(payload['htu'], 'https://api.example/orders');
    assert.equal(payload['nonce'], 'n-1');
    assert.equal(payload['ath'], createHash('sha256').update('token-123').digest('base64url'));
    assert.equal(accessTokenHash('token-123'), payload['ath']);
    assert.equal(typeof payload.jti, 'string');
    assert.equal(key.jkt, await calculateJwkThumbprint(key.publicJwk));
    assert.deepEqual(key.cnf, { cnf: { jkt: key.jkt } });
  });

  it('lets a test override or remove any claim or header member', async function () {
    const key = await generateDpopKey('EdDSA');
    const proof = await createDpopProof(key, {
      htm: 'POST',
      htu: 'https://api.example/a',
      iat: 1000,
      jti: 'fixed',
      claims: { htm: undefined, extra: 1 },
      header: { typ: 'JWT' },
    });
    const [head = '', body = ''] = proof.split('.');
    const header = JSON.parse(Buffer.from(head, 'base64url').toString()) as Record<string, unknown>;
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>;
    assert.equal(header['typ'], 'JWT');
    assert.equal(header['alg'], 'EdDSA');
    assert.deepEqual(claims, { jti: 'fixed', htu: 'https://api.example/a', iat: 1000, extra: 1 });
  });
});
