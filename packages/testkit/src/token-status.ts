import { decodeProtectedHeader, jwtVerify } from 'jose';

import type { KeyStore, StubKey } from './key-store.js';
import { OpaqueTokenStore, isCurrent } from './opaque-tokens.js';
import type { ClaimDefaults } from './mint-token.js';
import type { IssueOpaqueTokenOptions } from './introspection-types.js';

/** Most JWTs whose verification is remembered (the map is cleared when full). */
const MAX_VERIFIED_JWTS = 10_000;

interface VerifiedJwt {
  /** The key that verified the signature; the entry is stale once the store no longer holds it. */
  readonly key: StubKey;
  readonly claims: Readonly<Record<string, unknown>>;
}

/**
 * What the authorization server knows about tokens: the opaque tokens it issued, the JWTs its keys
 * signed, and which tokens were revoked.
 */
export class TokenStatus {
  readonly #opaque: OpaqueTokenStore;
  readonly #keys: KeyStore;
  readonly #revoked = new Set<string>();
  /** Signatures already verified, so repeated introspection of a JWT costs no public-key operation. */
  readonly #verified = new Map<string, VerifiedJwt>();

  constructor(defaults: ClaimDefaults, keys: KeyStore) {
    this.#opaque = new OpaqueTokenStore(defaults);
    this.#keys = keys;
  }

  /** Issues an opaque token (see `OpaqueTokenStore.issue`). */
  issueOpaque(claims?: Record<string, unknown>, options?: IssueOpaqueTokenOptions): string {
    return this.#opaque.issue(claims, options);
  }

  /** Marks `token` revoked, whatever it is. */
  revoke(token: string): void {
    this.#revoked.add(token);
  }

  /**
   * The claims of `token` if it is active (RFC 7662 §2.2): an opaque token of ours or a JWT signed
   * by one of our keys (published or not), not revoked, not expired and not before its `nbf`.
   * `undefined` for every other token. The claims are a fresh copy.
   */
  async activeClaims(token: string): Promise<Record<string, unknown> | undefined> {
    if (this.#revoked.has(token)) return undefined;
    const opaque = this.#opaque.get(token);
    if (opaque !== undefined) return isCurrent(opaque) ? { ...opaque } : undefined;
    let verified = this.#verified.get(token);
    if (verified !== undefined && this.#keys.find(verified.key.kid) !== verified.key) {
      this.#verified.delete(token);
      verified = undefined;
    }
    if (verified === undefined) {
      verified = await this.#verifyOwnJwt(token);
      if (verified === undefined) return undefined;
      if (this.#verified.size >= MAX_VERIFIED_JWTS) this.#verified.clear();
      this.#verified.set(token, verified);
    }
    return isCurrent(verified.claims) ? { ...verified.claims } : undefined;
  }

  /** A compact JWS signed by one of the stub's keys, if it verifies and is current, with its claims. */
  async #verifyOwnJwt(token: string): Promise<VerifiedJwt | undefined> {
    if (token.split('.').length !== 3) return undefined;
    let candidates: StubKey[];
    try {
      const { kid, alg } = decodeProtectedHeader(token);
      if (typeof alg !== 'string') return undefined;
      if (kid === undefined) {
        candidates = this.#keys.keysOf(alg);
      } else {
        const key = this.#keys.find(kid);
        candidates = key?.alg === alg ? [key] : [];
      }
    } catch {
      return undefined;
    }
    for (const key of candidates) {
      try {
        // jose checks exp and nbf (no clock tolerance) and refuses unknown critical headers.
        const { payload } = await jwtVerify(token, key.publicKey, { algorithms: [key.alg] });
        const claims: Record<string, unknown> = { ...payload };
        // `active` is the server's verdict, never a claim of the token.
        delete claims['active'];
        return { key, claims: Object.freeze(claims) };
      } catch {
        // Not signed by this key, or not current: try the next candidate.
      }
    }
    return undefined;
  }
}
