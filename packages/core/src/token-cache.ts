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

/** 32-bit FNV-1a over `text[from, to)`: spreads the (uniformly random) digest characters. */
function fnv1a(text: string, from: number, to: number): number {
  let hash = 0x811c9dc5;
  for (let i = from; i < to; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/**
 * The admission filter of a cache that takes a token on its second verification: a fixed table of
 * 32-bit fingerprints of the digests verified once (no object per token, so nothing for the
 * garbage collector). A slot is overwritten by a later token that lands on it; such a token is
 * then simply admitted one verification later. A fingerprint collision admits a token on its
 * first verification. Neither changes what is accepted: only verified tokens reach the cache.
 */
class SeenOnce {
  readonly #slots: Uint32Array;
  readonly #mask: number;

  constructor(capacity: number) {
    let size = 1024;
    while (size < capacity && size < 1 << 24) size *= 2;
    this.#slots = new Uint32Array(size);
    this.#mask = size - 1;
  }

  /** True when `digest` was seen before (and forget it); otherwise remember it and return false. */
  secondSighting(digest: string): boolean {
    const slot = fnv1a(digest, 0, 8) & this.#mask;
    const fingerprint = (fnv1a(digest, 8, 16) | 1) >>> 0; // never 0 (the empty slot); unsigned, as stored
    if (this.#slots[slot] === fingerprint) {
      this.#slots[slot] = 0;
      return true;
    }
    this.#slots[slot] = fingerprint;
    return false;
  }
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
 *
 * With `admission: 'second-use'` (the default) a token enters on its second verification, the
 * "doorkeeper" of TinyLFU-style caches: a token used once costs no entry (no allocation that
 * lives long enough to burden the garbage collector, no eviction), and a burst of one-off tokens
 * cannot flush the tokens that callers do reuse. A reused token pays one extra signature check.
 */
export class VerifiedTokenCache {
  readonly #lru: LRUCache<string, Entry>;
  readonly #checks: TimeChecks;
  readonly #seenOnce: SeenOnce | undefined;

  constructor(max: number, checks: TimeChecks, admission: 'first-use' | 'second-use' = 'second-use') {
    this.#lru = new LRUCache<string, Entry>({ max });
    this.#checks = checks;
    this.#seenOnce = admission === 'second-use' ? new SeenOnce(max) : undefined;
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
    if (this.#seenOnce !== undefined && !this.#seenOnce.secondSighting(digest)) return;
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
