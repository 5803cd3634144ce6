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
 * The admission filter of a cache that takes a token on its second verification: a Bloom filter
 * of the digests verified once (three bits per digest in a fixed bit array: no object per token,
 * nothing for the garbage collector). Bits are never overwritten, so two tokens that share a bit
 * never keep each other out; the filter is cleared after `capacity` new digests, so a flood of
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

  /** True when `digest` was seen before; otherwise remember it and return false. */
  secondSighting(digest: string): boolean {
    // The digest is uniformly random: three slices of it are three independent hashes.
    const a = fnv1a(digest, 0, 8) & this.#mask;
    const b = fnv1a(digest, 8, 16) & this.#mask;
    const c = fnv1a(digest, 16, 24) & this.#mask;
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
