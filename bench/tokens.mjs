// Keys and access tokens for the benchmark.
//
// Every variant verifies the same ES256 tokens signed by one key pair generated at start-up. Tokens
// are RFC 9068-shaped JWT access tokens (`typ: at+jwt`, iss/aud/sub/client_id/iat/exp/jti/scope)
// minted in advance with jose's SignJWT, so minting never competes with the measured servers.

import { exportJWK, generateKeyPair, SignJWT } from 'jose';

/** The issuer and audience every variant is configured with. */
export const ISSUER = 'https://as.example';
export const AUDIENCE = 'https://api.example';
export const KID = 'bench-es256';

/**
 * A fresh ES256 key pair and the public JWK Set the servers trust.
 * @returns {Promise<{ privateKey: CryptoKey, jwks: { keys: object[] } }>}
 */
export async function createSigningKey() {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { privateKey, jwks: { keys: [{ ...jwk, kid: KID, alg: 'ES256', use: 'sig' }] } };
}

/**
 * Sign one access token. `jti` makes every token distinct (so its SHA-256 digest, bearer-guard's
 * cache key, is distinct too); `claims` adds claims (the DPoP variant's `cnf`).
 */
export function mintToken(privateKey, { jti, scope = 'read', kid = KID, claims = {} } = {}) {
  return new SignJWT({ scope, client_id: 'bench-client', ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject('bench-user')
    .setIssuedAt()
    .setExpirationTime('1h') // the whole run stays far below an hour
    .setJti(String(jti))
    .sign(privateKey);
}

/**
 * Mint `count` distinct tokens whose `jti` starts with `prefix`.
 *
 * jose signs through WebCrypto, whose ECDSA work runs on libuv's thread pool; issuing a batch of
 * promises at once keeps both cores busy (about twice the rate of signing one at a time). Only
 * called while no measurement is running.
 * @param {(done: number) => void} [onProgress]
 * @returns {Promise<string[]>}
 */
export async function mintMany(privateKey, count, prefix, onProgress) {
  const BATCH = 512;
  const tokens = new Array(count);
  for (let start = 0; start < count; start += BATCH) {
    const end = Math.min(count, start + BATCH);
    const batch = [];
    for (let i = start; i < end; i++) batch.push(mintToken(privateKey, { jti: `${prefix}-${i}` }));
    const signed = await Promise.all(batch);
    for (let i = start; i < end; i++) tokens[i] = signed[i - start];
    onProgress?.(end);
  }
  return tokens;
}
