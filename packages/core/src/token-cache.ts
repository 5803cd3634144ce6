import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { BearerGuardError } from './errors.js';
import type { Principal } from './principal.js';

interface Entry {
  principal: Principal;
  /** `exp`, `nbf` and `iat` in seconds, re-checked on every hit. */
  exp: number;
  nbf: number | undefined;
  iat: number | undefined;
}

export interface TimeChecks {
  clockTolerance: number;
  maxTokenAge: number | undefined;
}

/** SHA-256 of the token: the cache never holds a usable token as a key. */
export function tokenDigest(token: string): string {
  // The one-shot form: no Hash object per request on the hot path.
  return hash('sha256', token, 'base64url');
}

function numeric(value: unknown): number | undefined {
  return typeof value === 'number' ? value : undefined;
}

/**
 * Principals of tokens that already passed full verification, so a token presented again (one
 * caller reusing its token for an hour) skips the signature check. LRU-bounded; an entry never
 * outlives the token's `exp`, and `exp`/`nbf`/`iat` are checked again on every hit with the same
 * tolerance as the first verification.
 */
export class VerifiedTokenCache {
  readonly #lru: LRUCache<string, Entry>;
  readonly #checks: TimeChecks;

  constructor(max: number, checks: TimeChecks) {
    this.#lru = new LRUCache<string, Entry>({ max });
    this.#checks = checks;
  }

  get size(): number {
    return this.#lru.size;
  }

  /** The cached principal, or `undefined`. Throws when a cached token's time has run out. */
  get(digest: string, nowSeconds: number): Principal | undefined {
    const entry = this.#lru.get(digest);
    if (entry === undefined) return undefined;
    const { clockTolerance, maxTokenAge } = this.#checks;
    if (nowSeconds - clockTolerance >= entry.exp) {
      this.#lru.delete(digest);
      throw new BearerGuardError('ERR_BEARER_TOKEN_EXPIRED', { cause: new Error('cached token passed exp') });
    }
    if (
      maxTokenAge !== undefined &&
      entry.iat !== undefined &&
      nowSeconds - clockTolerance - entry.iat > maxTokenAge
    ) {
      this.#lru.delete(digest);
      throw new BearerGuardError('ERR_BEARER_TOKEN_TOO_OLD', {
        cause: new Error('cached token passed maxTokenAge'),
      });
    }
    if (entry.nbf !== undefined && entry.nbf > nowSeconds + clockTolerance) {
      // Only a clock stepping backwards gets here; refuse as the first verification would have.
      throw new BearerGuardError('ERR_BEARER_TOKEN_NOT_YET_VALID', {
        cause: new Error('cached token before nbf'),
      });
    }
    return entry.principal;
  }

  set(digest: string, principal: Principal, nowSeconds: number): void {
    const { claims } = principal;
    const exp = numeric(claims['exp']);
    if (exp === undefined) return;
    const ttl = Math.floor((exp + this.#checks.clockTolerance - nowSeconds) * 1000);
    if (ttl <= 0) return;
    this.#lru.set(
      digest,
      { principal, exp, nbf: numeric(claims['nbf']), iat: numeric(claims['iat']) },
      { ttl },
    );
  }

  clear(): void {
    this.#lru.clear();
  }
}
