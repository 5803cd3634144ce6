// DPoP for the benchmark (RFC 9449): the client's proof key, and proofs minted in advance.
//
// The `dpop` variant is bearer-guard with `dpop` on, served one DPoP-bound access token (`cnf.jkt`)
// again and again, each request with a proof it has never seen: the token comes from the verified-
// token cache, the proof costs one signature check, its claims checks and one replay-store write.
// Proofs are minted by run.mjs right before every run that needs them (a fresh pool each time, so
// `iat` is seconds old and no `jti` repeats), with node:crypto's synchronous ECDSA signing
// (about 30 µs each), and handed to the load generator in a file, one proof per line.

import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { AUDIENCE } from './tokens.mjs';

/** The `dpop` variant's `publicUrl`, and the `htu` of every proof (the bench route is `/hello`). */
export const DPOP_PUBLIC_URL = AUDIENCE;
export const DPOP_HTU = `${AUDIENCE}/hello`;

const base64url = (text) => Buffer.from(text, 'utf8').toString('base64url');
const sha256 = (text) => createHash('sha256').update(text).digest('base64url');

/**
 * A P-256 proof key: the private key, its RFC 7638 thumbprint (the token's `cnf.jkt`) and the
 * encoded protected header every proof carries (`typ`, `alg`, the public `jwk`).
 */
export function createDpopKey() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { crv, kty, x, y } = publicKey.export({ format: 'jwk' });
  return {
    privateKey,
    jkt: sha256(JSON.stringify({ crv, kty, x, y })),
    header: base64url(JSON.stringify({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } })),
  };
}

/** `count` proofs of `key` for `GET DPOP_HTU` with `accessToken`, `jti` `<prefix>-<i>`, `iat` now. */
export function mintProofs(key, accessToken, count, prefix) {
  const ath = sha256(accessToken);
  const iat = Math.floor(Date.now() / 1000);
  const proofs = new Array(count);
  for (let i = 0; i < count; i++) {
    const input = `${key.header}.${base64url(JSON.stringify({ jti: `${prefix}-${i}`, htm: 'GET', htu: DPOP_HTU, iat, ath }))}`;
    const signature = sign('sha256', Buffer.from(input, 'ascii'), {
      key: key.privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    proofs[i] = `${input}.${signature.toString('base64url')}`;
  }
  return proofs;
}
