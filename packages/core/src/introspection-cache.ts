import { LRUCache } from 'lru-cache';
import type { Principal } from './principal.js';

/**
 * What the introspection cache keeps for a token digest: the (validated) response of an active
 * token, or the fact that the token is not active. JSON-serialisable except `principal`, which an
 * in-process store may keep to skip rebuilding it; a shared store may drop it.
 */
export type IntrospectionCacheEntry =
  { active: true; claims: Record<string, unknown>; principal?: Principal } | { active: false };

/**
 * Where introspection results are cached, keyed by the SHA-256 of the token (never the token).
 * The in-memory default is LRU-bounded; a shared store (Redis, memcached) can replace it.
 * Methods may be synchronous or return promises.
 */
export interface IntrospectionStore {
  get(key: string): IntrospectionCacheEntry | undefined | Promise<IntrospectionCacheEntry | undefined>;
  /** Store `value` for at most `ttl` milliseconds. */
  set(key: string, value: IntrospectionCacheEntry, ttl: number): void | Promise<void>;
  delete(key: string): void | Promise<void>;
}

/** The default store: in-process, LRU-bounded by entry count, each entry with its own TTL. */
export class MemoryIntrospectionStore implements IntrospectionStore {
  readonly #lru: LRUCache<string, IntrospectionCacheEntry>;

  constructor(max: number) {
    this.#lru = new LRUCache<string, IntrospectionCacheEntry>({ max, ttlAutopurge: false });
  }

  get size(): number {
    return this.#lru.size;
  }

  get(key: string): IntrospectionCacheEntry | undefined {
    return this.#lru.get(key);
  }

  set(key: string, value: IntrospectionCacheEntry, ttl: number): void {
    this.#lru.set(key, value, { ttl });
  }

  delete(key: string): void {
    this.#lru.delete(key);
  }
}
