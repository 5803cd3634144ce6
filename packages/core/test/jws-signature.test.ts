import assert from 'node:assert/strict';
import {
  constants,
  createSecretKey,
  generateKeyPairSync,
  sign as cryptoSign,
  type KeyObject,
} from 'node:crypto';

import { exportJWK, SignJWT, type JWK } from 'jose';

import { createGuard } from '@bearer-guard/core';
import type { BearerGuard, JwsAlgorithm } from '@bearer-guard/core';

import { keyMismatch, verifySignature, verifySignatureInPool } from '../src/jws-signature.js';
import { rejectsWith, startTinyServer, type TinyServer } from './helpers.js';

const ISSUER = 'https://as.example';
const AUDIENCE = 'https://api.example';

interface KeyPair {
  publicKey: KeyObject;
  privateKey: KeyObject;
}

const rsa = (bits: number): KeyPair => generateKeyPairSync('rsa', { modulusLength: bits });
const ec = (namedCurve: string): KeyPair => generateKeyPairSync('ec', { namedCurve });

/** One key pair per kind, made once: RSA generation is slow. */
const KEYS = {
  rsa2048: rsa(2048),
  rsa1024: rsa(1024),
  p256: ec('prime256v1'),
  p384: ec('secp384r1'),
  p521: ec('secp521r1'),
  ed25519: generateKeyPairSync('ed25519'),
  ed448: generateKeyPairSync('ed448'),
};

/** Each algorithm, the key that serves it, and keys that must never serve it (RFC 8725 §3.1). */
const BINDINGS: { alg: JwsAlgorithm; good: KeyPair; wrong: [string, KeyPair][] }[] = [
  ...(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const).map((alg) => ({
    alg,
    good: KEYS.rsa2048,
    wrong: [
      ['an RSA key of 1024 bits', KEYS.rsa1024],
      ['an EC key', KEYS.p256],
      ['an Ed25519 key', KEYS.ed25519],
    ] as [string, KeyPair][],
  })),
  {
    alg: 'ES256',
    good: KEYS.p256,
    wrong: [
      ['curve P-384', KEYS.p384],
      ['an RSA key', KEYS.rsa2048],
    ],
  },
  {
    alg: 'ES384',
    good: KEYS.p384,
    wrong: [
      ['curve P-256', KEYS.p256],
      ['curve P-521', KEYS.p521],
    ],
  },
  {
    alg: 'ES512',
    good: KEYS.p521,
    wrong: [
      ['curve P-384', KEYS.p384],
      ['an Ed25519 key', KEYS.ed25519],
    ],
  },
  {
    alg: 'EdDSA',
    good: KEYS.ed25519,
    wrong: [
      ['an EC key', KEYS.p256],
      ['an RSA key', KEYS.rsa2048],
    ],
  },
  {
    alg: 'Ed25519',
    good: KEYS.ed25519,
    wrong: [
      ['an Ed448 key', KEYS.ed448],
      ['an EC key', KEYS.p256],
    ],
  },
];

function sign(alg: string, privateKey: KeyObject, kid = 'k1'): Promise<string> {
  return new SignJWT({ scope: 'read' })
    .setProtectedHeader({ alg, kid, typ: 'at+jwt' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject('alice')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(privateKey);
}

describe('jws-signature: the algorithm/key binding of every JWS algorithm (RFC 8725 §3.1)', function () {
  describe('keyMismatch()', function () {
    for (const { alg, good, wrong } of BINDINGS) {
      it(`${alg}: fits its own key, never ${wrong.map(([name]) => name).join(' nor ')}`, function () {
        assert.equal(keyMismatch(alg, good.publicKey), undefined);
        for (const [name, pair] of wrong) assert.notEqual(keyMismatch(alg, pair.publicKey), undefined, name);
        assert.notEqual(keyMismatch(alg, good.privateKey), undefined, 'a private key');
        assert.notEqual(keyMismatch(alg, createSecretKey(Buffer.alloc(32, 1))), undefined, 'a secret');
      });
    }

    it('HS*: a secret only, never a public key', function () {
      for (const alg of ['HS256', 'HS384', 'HS512']) {
        assert.equal(keyMismatch(alg, new Uint8Array(64)), undefined);
        assert.equal(keyMismatch(alg, createSecretKey(Buffer.alloc(64, 1))), undefined);
        assert.notEqual(keyMismatch(alg, KEYS.rsa2048.publicKey), undefined);
      }
    });

    it('refuses an algorithm it does not know, and none', function () {
      assert.notEqual(keyMismatch('none', KEYS.p256.publicKey), undefined);
      assert.notEqual(keyMismatch('ES256K', KEYS.p256.publicKey), undefined);
      assert.equal(verifySignature('none', KEYS.p256.publicKey, Buffer.from('a.b'), Buffer.alloc(0)), false);
    });
  });

  describe('verifySignatureInPool(): the same answers off the event loop', function () {
    for (const { alg, good } of BINDINGS) {
      it(`${alg}: a valid signature holds, a changed byte or a wrong length does not, never a rejection`, async function () {
        const [head = '', body = '', signature = ''] = (await sign(alg, good.privateKey)).split('.');
        const input = Buffer.from(`${head}.${body}`, 'latin1');
        const valid = Buffer.from(signature, 'base64url');
        const changed = Buffer.from(valid);
        changed[changed.length >> 1] = (changed[changed.length >> 1] ?? 0) ^ 1;
        const cases: [string, Buffer, boolean][] = [
          ['valid', valid, true],
          ['one byte changed', changed, false],
          ['truncated', valid.subarray(0, valid.length - 1), false],
          ['empty', Buffer.alloc(0), false],
        ];
        for (const [what, candidate, expected] of cases) {
          const inPool = verifySignatureInPool(alg, good.publicKey, input, candidate);
          assert.ok(inPool instanceof Promise, `${what}: checked on the pool`);
          assert.equal(await inPool, expected, what);
          let inline: boolean;
          try {
            inline = verifySignature(alg, good.publicKey, input, candidate);
          } catch {
            inline = false;
          }
          assert.equal(inline, expected, `${what}, inline`);
        }
      });
    }

    it('past 256 checks queued on the pool, the next ones run inline: the queue stays bounded, every answer right', async function () {
      const { privateKey, publicKey } = KEYS.p256;
      const input = Buffer.from('a.b');
      const valid = cryptoSign('sha256', input, { key: privateKey, dsaEncoding: 'ieee-p1363' });
      const answers = Array.from({ length: 300 }, (_, i) =>
        verifySignatureInPool('ES256', publicKey, input, i % 2 === 0 ? valid : Buffer.alloc(64)),
      );
      assert.equal(answers.filter((answer) => answer instanceof Promise).length, 256);
      const settled: boolean[] = [];
      for (const answer of answers) settled.push(answer instanceof Promise ? await answer : answer);
      assert.deepEqual(
        settled,
        answers.map((_, i) => i % 2 === 0),
      );
      assert.ok(verifySignatureInPool('ES256', publicKey, input, valid) instanceof Promise, 'the pool again');
    });

    it('HS256 stays inline, with a constant-time comparison', function () {
      const secret = createSecretKey(Buffer.alloc(32, 7));
      assert.equal(verifySignatureInPool('HS256', secret, Buffer.from('a.b'), Buffer.alloc(32)), false);
      assert.equal(
        verifySignatureInPool('none', KEYS.p256.publicKey, Buffer.from('a.b'), Buffer.alloc(0)),
        false,
      );
    });
  });

  describe('over a remote JWK Set: the key a token selects must fit its alg', function () {
    let jwks: { keys: JWK[] } = { keys: [] };
    let server: TinyServer;

    before(async function () {
      server = await startTinyServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
      });
    });

    after(async function () {
      await server.close();
    });

    /** A guard trusting `keys` at the tiny server for `algorithms`. */
    function guardWith(keys: JWK[], algorithms: JwsAlgorithm[]): BearerGuard {
      jwks = { keys };
      return createGuard({
        issuer: ISSUER,
        audience: AUDIENCE,
        jwksUri: `${server.origin}/jwks`,
        algorithms,
        allowInsecureHttp: true,
        timeout: 2000,
      });
    }

    const publicJwk = async (pair: KeyPair, extra: Partial<JWK> = {}): Promise<JWK> => ({
      ...(await exportJWK(pair.publicKey)),
      kid: 'k1',
      ...extra,
    });

    for (const { alg, good } of BINDINGS) {
      it(`${alg}: accepted with its key; refused with use "enc" or key_ops without "verify"`, async function () {
        const token = await sign(alg, good.privateKey);
        const principal = await guardWith([await publicJwk(good)], [alg]).verify(token);
        assert.equal(principal.subject, 'alice');
        await rejectsWith(
          guardWith([await publicJwk(good, { use: 'enc' })], [alg]).verify(token),
          'ERR_BEARER_TOKEN_KEY_UNKNOWN',
          401,
        );
        await rejectsWith(
          guardWith([await publicJwk(good, { key_ops: ['sign'] })], [alg]).verify(token),
          'ERR_BEARER_TOKEN_KEY_UNKNOWN',
          401,
        );
      });
    }

    for (const alg of ['RS256', 'PS256'] as const) {
      it(`${alg}: a token signed by a published RSA key of 1024 bits is refused (ALGORITHM_REJECTED)`, async function () {
        // jose will not sign with it either: node:crypto does.
        const b64u = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
        const exp = Math.floor(Date.now() / 1000) + 300;
        const input = `${b64u({ alg, kid: 'k1' })}.${b64u({ iss: ISSUER, aud: AUDIENCE, sub: 'alice', exp })}`;
        const signature = cryptoSign(
          'sha256',
          Buffer.from(input),
          alg === 'PS256'
            ? { key: KEYS.rsa1024.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }
            : KEYS.rsa1024.privateKey,
        );
        const token = `${input}.${signature.toString('base64url')}`;
        await rejectsWith(
          guardWith([await publicJwk(KEYS.rsa1024)], [alg]).verify(token),
          'ERR_BEARER_TOKEN_ALGORITHM_REJECTED',
          401,
        );
      });
    }

    it('ES256: a token whose kid names a P-384 key is refused, never verified on the wrong curve', async function () {
      const token = await sign('ES256', KEYS.p256.privateKey);
      await rejectsWith(
        guardWith([await publicJwk(KEYS.p384)], ['ES256', 'ES384']).verify(token),
        'ERR_BEARER_TOKEN_KEY_UNKNOWN',
        401,
      );
    });

    it('ES256: a signature of the wrong length (DER instead of R || S) is SIGNATURE_INVALID, not a crash', async function () {
      const token = await sign('ES256', KEYS.p256.privateKey);
      const [header, payload] = token.split('.');
      const der = Buffer.concat([Buffer.from([0x30, 0x44, 0x02, 0x20]), Buffer.alloc(70, 1)]);
      await rejectsWith(
        guardWith([await publicJwk(KEYS.p256)], ['ES256']).verify(
          `${header ?? ''}.${payload ?? ''}.${der.toString('base64url')}`,
        ),
        'ERR_BEARER_TOKEN_SIGNATURE_INVALID',
        401,
      );
    });
  });

  describe('with a configured publicKey', function () {
    it('an allowed alg that does not fit the key is ALGORITHM_REJECTED, whatever the signature', async function () {
      const guard = createGuard({
        issuer: ISSUER,
        audience: AUDIENCE,
        publicKey: KEYS.p256.publicKey,
        algorithms: ['ES256', 'ES384'],
      });
      assert.equal((await guard.verify(await sign('ES256', KEYS.p256.privateKey))).subject, 'alice');
      await rejectsWith(
        guard.verify(await sign('ES384', KEYS.p384.privateKey)),
        'ERR_BEARER_TOKEN_ALGORITHM_REJECTED',
        401,
      );
    });
  });
});
