import { createHash, randomUUID } from 'node:crypto';

import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { CryptoKey, JWK } from 'jose';

/** Algorithms the proof maker generates keys for. */
export type DpopAlgorithm = 'ES256' | 'ES384' | 'PS256' | 'RS256' | 'EdDSA';

/** A client's DPoP key pair: `jkt` is what a DPoP-bound token carries in `cnf.jkt` (RFC 9449 §6). */
export interface DpopKey {
  readonly alg: DpopAlgorithm;
  readonly privateKey: CryptoKey;
  /** The public JWK that goes into every proof's header. */
  readonly publicJwk: JWK;
  /** RFC 7638 SHA-256 thumbprint of the public key. */
  readonly jkt: string;
  /** `{ cnf: { jkt } }`, to spread into `stub.sign()` or `issueOpaqueToken()` claims. */
  readonly cnf: { cnf: { jkt: string } };
}

/** What a proof says; every field can be overridden (or removed with `undefined`) to forge a bad one. */
export interface DpopProofOptions {
  /** `htm`: the request method. */
  htm: string;
  /** `htu`: the request URL (query and fragment are stripped, as RFC 9449 §4.2 says). */
  htu: string;
  /** The access token the proof goes with: sets `ath`. */
  accessToken?: string | undefined;
  /** A server nonce (`DPoP-Nonce`). */
  nonce?: string | undefined;
  /** `iat` in epoch seconds. Defaults to now. */
  iat?: number | undefined;
  /** `jti`. Defaults to a random UUID. */
  jti?: string | undefined;
  /** Extra or overriding claims; `undefined` removes one. */
  claims?: Record<string, unknown> | undefined;
  /** Extra or overriding protected-header members (`typ`, `jwk`, …); `undefined` removes one. */
  header?: Record<string, unknown> | undefined;
}

/** Generate a DPoP key pair for a test client. */
export async function generateDpopKey(alg: DpopAlgorithm = 'ES256'): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: false });
  const publicJwk = await exportJWK(publicKey);
  const jkt = await calculateJwkThumbprint(publicJwk, 'sha256');
  return { alg, privateKey, publicJwk, jkt, cnf: { cnf: { jkt } } };
}

/** BASE64URL(SHA-256(access token)): the `ath` claim (RFC 9449 §4.2). */
export function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken).digest('base64url');
}

const withoutUndefined = (record: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));

/**
 * A DPoP proof JWT (RFC 9449 §4.2) signed with `key`: header `typ: dpop+jwt`, `alg`, `jwk`;
 * claims `jti`, `htm`, `htu`, `iat`, and `ath` / `nonce` when given.
 *
 * @example
 * const key = await generateDpopKey();
 * const token = await as.sign({ ...key.cnf });
 * const proof = await createDpopProof(key, { htm: 'GET', htu: 'https://api.example/orders', accessToken: token });
 * await request(app).get('/orders').set('Authorization', `DPoP ${token}`).set('DPoP', proof);
 */
export async function createDpopProof(key: DpopKey, options: DpopProofOptions): Promise<string> {
  const url = new URL(options.htu);
  url.search = '';
  url.hash = '';
  const claims = withoutUndefined({
    jti: options.jti ?? randomUUID(),
    htm: options.htm,
    htu: url.href,
    iat: options.iat ?? Math.floor(Date.now() / 1000),
    ath: options.accessToken === undefined ? undefined : accessTokenHash(options.accessToken),
    nonce: options.nonce,
    ...options.claims,
  });
  const header = withoutUndefined({ alg: key.alg, typ: 'dpop+jwt', jwk: key.publicJwk, ...options.header });
  return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(key.privateKey);
}
