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

/** 32-bit FNV-1a of `text`, from offset basis `seed`. */
function fnv1a(text: string, seed: number): number {
  let hash = seed;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/**
 * The admission filter of a cache that takes a token on its second verification: a Bloom filter
 * of the keys of tokens verified once (three bits per key in a fixed bit array: no object per token,
 * nothing for the garbage collector). Bits are never overwritten, so two tokens that share a bit
 * never keep each other out; the filter is cleared after `capacity` new keys, so a flood of
 * one-off tokens cannot fill it (TinyLFU's "reset"). A false positive (under 1 % at the reset
 * point) admits a token on its first verification. Neither changes what is accepted: only
 * verified tokens reach the cache.
 */
class SeenOnce {
  readonly #bits: Uint32Array;
  readonly #mask: number;
  readonly #resetAfter: number;
  #added = 0;

  constructor(capacity: number) {
    let bits = 1 << 14;
    while (bits < capacity * 16 && bits < 2 ** 28) bits *= 2; // 16 bits per entry: ~0.5 % false positives
    this.#bits = new Uint32Array(bits / 32);
    this.#mask = bits - 1;
    this.#resetAfter = capacity;
  }

  /** True when `key` was seen before; otherwise remember it and return false. */
  secondSighting(key: string): boolean {
    // Three bit positions from two hashes (Kirsch and Mitzenmacher's double hashing).
    const h1 = fnv1a(key, 0x811c9dc5);
    const h2 = fnv1a(key, 0x6b43a9b5) | 1;
    const a = h1 & this.#mask;
    const b = (h1 + h2) & this.#mask;
    const c = (h1 + 2 * h2) & this.#mask;
    if (this.#has(a) && this.#has(b) && this.#has(c)) return true;
    if (++this.#added > this.#resetAfter) {
      this.#bits.fill(0);
      this.#added = 1;
    }
    this.#add(a);
    this.#add(b);
    this.#add(c);
    return false;
  }

  #has(bit: number): boolean {
    return ((this.#bits[bit >>> 5] ?? 0) & (1 << (bit & 31))) !== 0;
  }

  #add(bit: number): void {
    this.#bits[bit >>> 5] = (this.#bits[bit >>> 5] ?? 0) | (1 << (bit & 31));
  }
}

/** SHA-256 of the token: the introspection cache (and any store behind it) never holds a usable token as a key. */
export function tokenDigest(token: string): string {
  // The one-shot form: no Hash object per request on the hot path.
  return hash('sha256', token, 'base64url');
}

/**
 * The cache key of a JWT: its JWS signature (RFC 7515 §7.1: the third segment), a value the issuer
 * computed over a SHA-2 digest (or an HMAC) of the token's header and claims. It is as unique to
 * the token as a digest of our own, of a size fixed by the algorithm, and costs no hashing per
 * request: the cached path is then a lookup and a comparison. A key alone is not a usable token, and
 * a hit also requires the cached token to equal the presented one, character for character, so a
 * token that merely ends like a cached one is never taken for it.
 */
function cacheKey(token: string): string {
  return token.slice(token.lastIndexOf('.') + 1);
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

  /** The cached principal of `token`, or `undefined`. Throws when a cached token's time has run out. */
  get(token: string, nowSeconds: number): Principal | undefined {
    const key = cacheKey(token);
    const entry = this.#lru.get(key);
    if (entry?.principal.token !== token) return undefined;
    const { clockTolerance, maxTokenAge } = this.#checks;
    if (nowSeconds - clockTolerance >= entry.exp) {
      this.#lru.delete(key);
      throw new BearerGuardError('ERR_BEARER_TOKEN_EXPIRED', { cause: new Error('cached token passed exp') });
    }
    if (
      maxTokenAge !== undefined &&
      entry.iat !== undefined &&
      nowSeconds - clockTolerance - entry.iat > maxTokenAge
    ) {
      this.#lru.delete(key);
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

  /** Offer the principal of a token that passed full verification. */
  set(principal: Principal, nowSeconds: number): void {
    const { claims } = principal;
    const exp = numeric(claims['exp']);
    if (exp === undefined) return;
    const ttl = Math.floor((exp + this.#checks.clockTolerance - nowSeconds) * 1000);
    if (ttl <= 0) return;
    const key = cacheKey(principal.token);
    if (this.#seenOnce !== undefined && !this.#seenOnce.secondSighting(key)) return;
    this.#lru.set(key, { principal, exp, nbf: numeric(claims['nbf']), iat: numeric(claims['iat']) }, { ttl });
  }

  clear(): void {
    this.#lru.clear();
  }
}
