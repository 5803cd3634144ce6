import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { GuardEvents } from './events.js';
import type { Principal } from './principal.js';

/**
 * What the introspection cache keeps for a token digest: the (validated) response of an active
 * token, or the fact that the token is not active. `context` names the issuer, endpoint and client
 * whose call produced it (see {@link introspectionContext}): an answer is only ever used by a guard
 * of the same context. JSON-serialisable except `principal`, which an in-process store may keep to
 * skip rebuilding it; a shared store may drop it.
 */
export type IntrospectionCacheEntry =
  | { active: true; context: string; claims: Record<string, unknown>; principal?: Principal }
  | { active: false; context: string };

/**
 * Where introspection results are cached, keyed by `<context>.<SHA-256 of the token>` (never the
 * token, never a secret). The in-memory default is LRU-bounded; a shared store (Redis, memcached)
 * can replace it. Methods may be synchronous or return promises. A store that throws, rejects,
 * does not answer within the introspection `timeout` or returns something that is not an entry
 * never fails a request: it is a miss (a failed `set` is ignored), reported by `store.failed`.
 */
export interface IntrospectionStore {
  get(key: string): IntrospectionCacheEntry | undefined | Promise<IntrospectionCacheEntry | undefined>;
  /** Store `value` for at most `ttl` milliseconds. */
  set(key: string, value: IntrospectionCacheEntry, ttl: number): void | Promise<void>;
  delete(key: string): void | Promise<void>;
}

/**
 * The namespace of one introspector's answers: a SHA-256 over the issuer, the endpoint (or
 * `discovered`), the client id and how it authenticates (method and key id). An answer depends on
 * who asked where (RFC 7662 §2.2: the server may answer differently per client, and an answer
 * without `iss` names no issuer at all), so two guards sharing a store must never take each
 * other's. The client secret is left out on purpose: any value derived from it and written to a
 * shared store would let whoever reads the store test guesses of the secret offline, and the
 * answers of one client do not depend on which of its credentials fetched them.
 */
export function introspectionContext(parts: {
  issuer: string;
  endpoint: string | undefined;
  clientId: string;
  credential: string;
}): string {
  const input = JSON.stringify([
    'bearer-guard introspection v1',
    parts.issuer,
    parts.endpoint ?? 'discovered',
    parts.clientId,
    parts.credential,
  ]);
  return hash('sha256', input, 'base64url');
}

function isClaims(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const TIMED_OUT = Symbol('timed out');

export const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof (value as { then?: unknown } | null | undefined)?.then === 'function';

/**
 * Why `value`, read from a store, is not an entry of `context` (`undefined` when it is one). A
 * shared store may be corrupt or written by someone hostile: its answer is never trusted on shape.
 */
export function malformedEntry(value: unknown, context: string): string | undefined {
  if (!isClaims(value)) return 'the entry is not an object';
  if (value['context'] !== context) return 'the entry belongs to another issuer, endpoint or client';
  if (value['active'] === false) return undefined;
  if (value['active'] !== true) return 'the entry has no boolean active';
  const claims = value['claims'];
  if (!isClaims(claims) || claims['active'] !== true) return 'the entry has no active claims object';
  return undefined;
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

export interface CachedAnswersOptions {
  store: IntrospectionStore;
  /** See {@link introspectionContext}. */
  context: string;
  issuer: string;
  events: GuardEvents;
  /** The deadline of an asynchronous `get`, in ms (the introspection `timeout`). */
  timeout: number;
  maxSeconds: number;
  negativeSeconds: number;
}

/**
 * One introspector's answers in a store: keys and entries in its namespace, TTLs from `exp`, and a
 * store that misbehaves (throws, rejects, hangs, answers garbage) turned into misses and
 * `store.failed` events, so that it never fails a request nor is trusted.
 */
export class CachedAnswers {
  readonly #options: CachedAnswersOptions;
  readonly #store: IntrospectionStore;
  readonly #context: string;
  readonly #prefix: string;
  /** Whether the store is the in-memory one, which answers synchronously. */
  readonly inMemory: boolean;

  constructor(options: CachedAnswersOptions) {
    this.#options = options;
    this.#store = options.store;
    this.#context = options.context;
    this.#prefix = `${options.context}.`;
    this.inMemory = options.store instanceof MemoryIntrospectionStore;
  }

  /**
   * The store key of a token: SHA-256 of our namespace and the token, one flat string from one
   * one-shot hash. Never the token itself, and never the same for two namespaces. (A key built
   * as `namespace + "." + digest` cost a string concatenation that the store's map then had to
   * flatten and hash again on every hit: measured at +0.6 µs per cached request.)
   */
  key(token: string): string {
    return hash('sha256', this.#prefix + token, 'base64url');
  }

  /**
   * The store's answer for `key`: an entry of ours, a miss, or a promise of its answer. A store
   * that throws, or answers something that is not an entry of our namespace (corrupt, hostile, or
   * another guard's), is a miss.
   */
  read(key: string): IntrospectionCacheEntry | undefined | PromiseLike<unknown> {
    try {
      // Inside the `try`: an in-process store may even answer an object whose getters throw.
      const value: unknown = this.#store.get(key);
      return isThenable(value) ? value : this.#checked(value);
    } catch (error) {
      this.#failed('get', error);
      return undefined;
    }
  }

  /** An asynchronous `get`, bounded by the introspection `timeout`: every outbound call has a deadline. */
  async settle(pending: PromiseLike<unknown>): Promise<IntrospectionCacheEntry | undefined> {
    const { timeout } = this.#options;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = setTimeout(resolve, timeout, TIMED_OUT);
    });
    try {
      const value = await Promise.race([pending, deadline]);
      if (value !== TIMED_OUT) return this.#checked(value);
      this.#failed('get', new Error(`the store did not answer within ${String(timeout)} ms`));
    } catch (error) {
      this.#failed('get', error);
    } finally {
      clearTimeout(timer);
    }
    return undefined;
  }

  /**
   * Cache `entry` for `min(maxSeconds, exp - now)`, or `negativeSeconds` when inactive. For a
   * store that answers asynchronously (a shared one), a promise that settles, never rejecting,
   * once the write is done or has failed or the introspection `timeout` passed: the introspector
   * waits for it, so that once a replica has answered, another replica sharing the store finds
   * the answer instead of asking the authorization server again (one call per token for all
   * replicas). Only the request that made the call waits; a failing store costs at most `timeout`.
   */
  remember(key: string, entry: IntrospectionCacheEntry, nowSeconds: number): Promise<void> | undefined {
    const { maxSeconds, negativeSeconds } = this.#options;
    let ttlSeconds = negativeSeconds;
    if (entry.active) {
      const exp = entry.claims['exp'];
      ttlSeconds = typeof exp === 'number' ? Math.min(maxSeconds, exp - nowSeconds) : maxSeconds;
    }
    if (ttlSeconds <= 0) return undefined;
    // The in-memory store keeps the entry itself, to which the principal is attached later; any
    // other store gets a copy, so one that serialises lazily never sees the principal (or its token).
    const value = this.inMemory ? entry : { ...entry };
    // A store failing must not fail the request: the answer is already known.
    try {
      const pending = this.#store.set(key, value, ttlSeconds * 1000);
      return isThenable(pending) ? this.#written(pending) : undefined;
    } catch (error) {
      this.#failed('set', error);
      return undefined;
    }
  }

  /** An asynchronous `set`, settled within the introspection `timeout`; failures are `store.failed`. */
  #written(pending: PromiseLike<unknown>): Promise<void> {
    const { timeout } = this.#options;
    let reported = false;
    const fail = (error: unknown): void => {
      if (reported) return;
      reported = true;
      this.#failed('set', error);
    };
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        fail(new Error(`the store did not answer within ${String(timeout)} ms`));
        resolve();
      }, timeout);
    });
    const write = Promise.resolve(pending).then(() => {
      reported = true;
    }, fail);
    return Promise.race([write, deadline]).finally(() => {
      clearTimeout(timer);
    });
  }

  /** Called inside a `try`: whatever the store's value throws on being read is a miss. */
  #checked(found: unknown): IntrospectionCacheEntry | undefined {
    if (found === undefined) return undefined;
    // Any store but ours answers objects we do not own: frozen, shared between reads, or with
    // getters and proxies that throw, or answer differently on a second read. A structured clone
    // reads it once, into plain data that is checked and that the introspector may attach its
    // principal to; a value that cannot be cloned (a proxy, a function) throws here.
    const value: unknown = this.inMemory ? found : structuredClone(found);
    const problem = malformedEntry(value, this.#context);
    if (problem === undefined) return value as IntrospectionCacheEntry;
    this.#failed('get', new Error(`the store returned a value that is not an entry: ${problem}`));
    return undefined;
  }

  #failed(operation: 'get' | 'set', error: unknown): void {
    this.#options.events.emit('store.failed', { issuer: this.#options.issuer, operation, error });
  }
}
