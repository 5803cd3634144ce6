import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { BearerGuardError } from './errors.js';
import type { Principal } from './principal.js';

/**
 * A source of verification keys as the cache sees it. A remote key set changes; a configured key
 * never does ({@link STATIC_KEYS}).
 */
export interface KeyHolder {
  /** Bumped on every load of the keys: an entry stamped with an older one checks its key again. */
  readonly generation: number;
  /** Whether the keys (as last loaded) still hold `key`, the key that verified a cached token. */
  holds(key: unknown): boolean;
  /**
   * Until when (epoch ms) a token these keys verified may be answered from the cache without asking
   * the keys again; at or past it a hit is treated as a miss, so the token is verified afresh.
   */
  reuseUntil(): number;
  /** A key chosen before for a token with this `alg` and `kid`, usable now without a lookup. */
  knownKey?(alg: string, kid: unknown): unknown;
}

/** A configured `publicKey`, `secret` or `jwks`: never reloaded, never withdrawn. */
export const STATIC_KEYS: KeyHolder = Object.freeze({
  generation: 0,
  holds: () => true,
  reuseUntil: () => Number.POSITIVE_INFINITY,
});

/** What verified a token: the key, the keys it came from and their generation at the time. */
export interface Verification {
  key: unknown;
  keys: KeyHolder;
  generation: number;
}

interface Entry {
  principal: Principal;
  /** `exp`, `nbf` and `iat` in seconds, checked exactly when a hit reaches {@link recheckAt}. */
  exp: number;
  nbf: number | undefined;
  iat: number | undefined;
  /** Epoch ms from which the time claims (`exp`, `maxTokenAge`) may refuse the token. */
  timeLimit: number;
  /** Epoch ms before which `nbf` or `iat` would refuse it (only a clock stepping back gets there). */
  validFrom: number;
  /** Epoch ms at which a hit checks again: the earlier of {@link timeLimit} and the keys' reuse limit. */
  recheckAt: number;
  key: unknown;
  keys: KeyHolder;
  /** The keys' generation this entry was last checked against. */
  generation: number;
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
 * outlives the token's `exp`, and `exp`/`nbf`/`iat` hold on every hit with the same tolerance as
 * the first verification. An entry also holds only while the key that verified it does: once its
 * key set is reloaded without that key, or is past its freshness (then the next request reloads
 * it) or its `staleMaxAge`, the token is verified afresh and answered as an uncached one.
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

  /**
   * The cached principal of `token`, or `undefined` (then verify it). Throws when a cached token's
   * time has run out. A hit costs a lookup, a string comparison and three number comparisons; the
   * rest runs only when the token nears a time limit or its keys were reloaded.
   */
  get(token: string, nowMs: number): Principal | undefined {
    const key = cacheKey(token);
    const entry = this.#lru.get(key);
    if (entry?.principal.token !== token) return undefined;
    if (nowMs < entry.recheckAt && nowMs >= entry.validFrom && entry.generation === entry.keys.generation) {
      return entry.principal;
    }
    return this.#recheck(key, entry, nowMs);
  }

  #recheck(key: string, entry: Entry, nowMs: number): Principal | undefined {
    const nowSeconds = Math.floor(nowMs / 1000);
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
    const notBefore = Math.max(entry.nbf ?? -Infinity, entry.iat ?? -Infinity);
    if (notBefore > nowSeconds + clockTolerance) {
      // Only a clock stepping backwards gets here; refuse as the first verification would have.
      throw new BearerGuardError('ERR_BEARER_TOKEN_NOT_YET_VALID', {
        cause: new Error('cached token before nbf or iat'),
      });
    }
    const { keys } = entry;
    if (entry.generation !== keys.generation) {
      // The keys were reloaded. A key the set no longer holds was withdrawn (rotated out, or
      // compromised): verify afresh, so the token is refused exactly as an uncached one is.
      if (!keys.holds(entry.key)) {
        this.#lru.delete(key);
        return undefined;
      }
      entry.generation = keys.generation;
    }
    // Keys past their freshness: verify afresh, which reloads them (or answers 503 once no key is
    // usable), so a withdrawal is seen within `cacheMaxAge` even when every request is a hit.
    const reuseUntil = keys.reuseUntil();
    if (reuseUntil <= nowMs) return undefined;
    entry.recheckAt = Math.min(entry.timeLimit, reuseUntil);
    return entry.principal;
  }

  /** Offer the principal of a token that passed full verification, with what verified it. */
  set(principal: Principal, verification: Verification, nowMs: number): void {
    const { claims } = principal;
    const exp = numeric(claims['exp']);
    if (exp === undefined) return;
    const { clockTolerance, maxTokenAge } = this.#checks;
    // The first epoch ms at which a check in seconds, `floor(now / 1000) - clockTolerance >= exp`,
    // can refuse the token (earlier when `exp` is fractional: the exact check then decides).
    const expLimit = (exp + clockTolerance) * 1000;
    const ttl = Math.floor(expLimit - nowMs);
    if (ttl <= 0) return;
    const key = cacheKey(principal.token);
    // A token verified again while cached (its keys were reloaded) is re-stamped, not re-admitted.
    if (this.#seenOnce !== undefined && !this.#lru.has(key) && !this.#seenOnce.secondSighting(key)) return;
    const nbf = numeric(claims['nbf']);
    const iat = numeric(claims['iat']);
    const ageLimit =
      maxTokenAge === undefined || iat === undefined
        ? Number.POSITIVE_INFINITY
        : (iat + clockTolerance + maxTokenAge) * 1000;
    const notBefore = Math.max(nbf ?? -Infinity, iat ?? -Infinity);
    const timeLimit = Math.min(expLimit, ageLimit);
    const { keys } = verification;
    this.#lru.set(
      key,
      {
        principal,
        exp,
        nbf,
        iat,
        timeLimit,
        validFrom: Math.ceil(notBefore - clockTolerance) * 1000,
        recheckAt: Math.min(timeLimit, keys.reuseUntil()),
        key: verification.key,
        keys,
        generation: verification.generation,
      },
      { ttl },
    );
  }

  clear(): void {
    this.#lru.clear();
  }
}
