import type { IntrospectionCacheEntry, IntrospectionStore } from '@bearer-guard/core';
import { LRUCache } from 'lru-cache';

import { EntryCodec, hmacKeyOption } from './entry-codec.js';
import { listenerOption, integerOption, optionsObject, stringOption, type KeysEnum } from './options.js';
import {
  breakerOptions,
  dispatcher,
  RedisCommands,
  replyText,
  type RedisBreakerOptions,
  type RedisClientLike,
} from './redis-command.js';
import { report, RedisStoreError, type RedisStoreErrorEvent } from './store-error.js';

export interface RedisIntrospectionStoreOptions {
  /** A node-redis client, an ioredis client, or `{ sendCommand(args: string[]): Promise<unknown> }`. */
  client: RedisClientLike;
  /**
   * The secret the Redis keys and values are HMACs under: at least 32 bytes, the same on every
   * replica sharing the cache. Required: without it, a key in Redis would be a plain digest of the
   * token, which whoever reads Redis could match against tokens, and write entries for.
   */
  hmacKey: string | Uint8Array;
  /** Prepended to every key (`<keyPrefix>introspection:v1:<HMAC>`). Defaults to `'bg:'`. */
  keyPrefix?: string;
  /** The deadline of each Redis command, in ms. Defaults to `250`. */
  timeout?: number;
  /**
   * How long this replica keeps an entry in memory, in ms (never past the TTL the guard gave it).
   * It bounds how long a revocation seen by another replica can go unseen here. `0` turns the
   * in-memory level off. Defaults to `5000`.
   */
  localTtl?: number;
  /** The most entries kept in memory (least recently used first out). Defaults to `10000`. */
  localMax?: number;
  /** The circuit breaker, or `false` for none. Defaults to `{ failureThreshold: 3, cooldown: 1000 }`. */
  breaker?: RedisBreakerOptions | false;
  /** Told of every failed command (the guard also emits `store.failed` for `get` and `set`). */
  onError?: (event: RedisStoreErrorEvent) => void;
}

const KEYS: KeysEnum<RedisIntrospectionStoreOptions> = {
  client: true,
  hmacKey: true,
  keyPrefix: true,
  timeout: true,
  localTtl: true,
  localMax: true,
  breaker: true,
  onError: true,
};

const PATH = 'redisIntrospectionStore';

/** The largest value read from or written to Redis (an introspection answer is 64 KiB at most by default). */
export const MAX_ENTRY_BYTES = 1024 * 1024;

/**
 * The introspection cache shared by replicas: an in-memory level per replica (its hits answer
 * synchronously, without Redis) in front of Redis. Each entry lives in Redis for the TTL the guard
 * gives it (`PX`; the guard bounds it by the token's `exp` and its cache `maxSeconds`) and in memory
 * for `min(that, localTtl)`.
 *
 * It only caches what the authorization server said: the guard checks the entry (its namespace,
 * shape, `exp`, audience) on every read, and scopes and the token's binding (DPoP, certificate)
 * after it, on every request. A failing Redis is a miss (the guard asks the authorization server)
 * and a failed write is ignored; both are `store.failed` events of the guard.
 */
export class RedisIntrospectionStore implements IntrospectionStore {
  readonly #commands: RedisCommands;
  readonly #codec: EntryCodec;
  readonly #local: LRUCache<string, IntrospectionCacheEntry> | undefined;
  readonly #localTtl: number;
  readonly #onError: ((event: RedisStoreErrorEvent) => void) | undefined;
  /** Concurrent misses of one key share one `GET`. */
  readonly #pending = new Map<string, Promise<IntrospectionCacheEntry | undefined>>();

  constructor(options: RedisIntrospectionStoreOptions) {
    const raw = optionsObject(PATH, options, KEYS);
    const dispatch = dispatcher(`${PATH}.client`, raw['client']);
    const secret = hmacKeyOption(`${PATH}.hmacKey`, raw['hmacKey']);
    const keyPrefix = stringOption(`${PATH}.keyPrefix`, raw['keyPrefix'], 'bg:');
    const timeout = integerOption(`${PATH}.timeout`, raw['timeout'], 250, {
      min: 1,
      max: 60_000,
      unit: 'ms',
    });
    this.#localTtl = integerOption(`${PATH}.localTtl`, raw['localTtl'], 5000, {
      min: 0,
      max: 60_000,
      unit: 'ms',
    });
    const localMax = integerOption(`${PATH}.localMax`, raw['localMax'], 10_000, {
      min: 1,
      max: 10_000_000,
      unit: 'entries',
    });
    this.#onError = listenerOption(`${PATH}.onError`, raw['onError']);
    this.#commands = new RedisCommands(dispatch, timeout, breakerOptions(`${PATH}.breaker`, raw['breaker']));
    this.#codec = new EntryCodec(secret, keyPrefix);
    this.#local =
      this.#localTtl === 0
        ? undefined
        : new LRUCache({ max: localMax, ttlAutopurge: false, allowStale: false });
  }

  /** Entries in this replica's memory. */
  get localSize(): number {
    return this.#local?.size ?? 0;
  }

  /** The state of the circuit breaker (`closed` while Redis answers). */
  get circuitState(): RedisCommands['circuitState'] {
    return this.#commands.circuitState;
  }

  /** The Redis key of a key the guard passes (for operators and tests: it is an HMAC, not the token's digest). */
  redisKey(key: string): string {
    return this.#codec.redisKey(key);
  }

  get(key: string): IntrospectionCacheEntry | undefined | Promise<IntrospectionCacheEntry | undefined> {
    const local = this.#local?.get(key);
    if (local !== undefined) return local;
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      // `current`: whether this lookup is still the key's own when its reply lands (a `delete`
      // meanwhile, or a `delete` then a new lookup, makes it stale: its answer is not kept).
      pending = this.#fetch(key, () => this.#pending.get(key) === pending).finally(() => {
        if (this.#pending.get(key) === pending) this.#pending.delete(key);
      });
      this.#pending.set(key, pending);
    }
    return pending;
  }

  async set(key: string, value: IntrospectionCacheEntry, ttl: number): Promise<void> {
    // Whole milliseconds, rounded down: an entry never outlives the TTL it was given.
    const ttlMs = Math.floor(ttl);
    if (!(ttlMs >= 1)) return;
    const redisKey = this.#codec.redisKey(key);
    const expiresAt = Date.now() + ttlMs;
    const { text, entry } = this.#codec.encode(redisKey, value, expiresAt);
    this.#remember(key, entry, ttlMs);
    if (Buffer.byteLength(text) > MAX_ENTRY_BYTES) return; // kept in memory only: no replica would read it
    await this.#send('set', ['SET', redisKey, text, 'PX', String(ttlMs)]);
  }

  /** Forget `key` in this replica's memory and in Redis (other replicas keep theirs for up to `localTtl`). */
  async delete(key: string): Promise<void> {
    this.#local?.delete(key);
    this.#pending.delete(key);
    await this.#send('delete', ['DEL', this.#codec.redisKey(key)]);
  }

  async #fetch(key: string, current: () => boolean): Promise<IntrospectionCacheEntry | undefined> {
    const redisKey = this.#codec.redisKey(key);
    // A bounded read: a value planted by whoever can write to Redis (100 MB, say) is never
    // transferred, parsed and MACed whole on every request. GETRANGE answers "" for a missing key.
    const reply = await this.#send('get', ['GETRANGE', redisKey, '0', String(MAX_ENTRY_BYTES)]);
    const text = replyText(reply);
    if (text === '' || text === null) return undefined;
    try {
      if (text === undefined) {
        throw new RedisStoreError('ERR_BEARER_REDIS_INVALID_REPLY', 'GETRANGE answered no string');
      }
      if (Buffer.byteLength(text) > MAX_ENTRY_BYTES) {
        throw new RedisStoreError('ERR_BEARER_REDIS_INVALID_ENTRY', 'the cached value is too large');
      }
      const { entry, expiresAt } = this.#codec.decode(redisKey, text);
      const left = expiresAt - Date.now();
      if (left < 1) return undefined;
      // Unless `delete` came meanwhile (even one followed by a new lookup), this replica keeps it;
      // the guard checks it on every read.
      if (current()) this.#remember(key, entry, left);
      return entry;
    } catch (error) {
      this.#failed('get', error as RedisStoreError);
      throw error;
    }
  }

  #remember(key: string, entry: IntrospectionCacheEntry, ttlMs: number): void {
    this.#local?.set(key, entry, { ttl: Math.min(ttlMs, this.#localTtl) });
  }

  async #send(operation: RedisStoreErrorEvent['operation'], args: string[]): Promise<unknown> {
    try {
      return await this.#commands.send(args);
    } catch (error) {
      this.#failed(operation, error as RedisStoreError);
      throw error;
    }
  }

  #failed(operation: RedisStoreErrorEvent['operation'], error: RedisStoreError): void {
    report(this.#onError, { store: 'introspection', operation, error, fallback: false });
  }
}

/**
 * A {@link RedisIntrospectionStore}: pass it as `introspection.store`.
 *
 * @example
 * ```ts
 * const store = redisIntrospectionStore({ client: redis, hmacKey: process.env.CACHE_HMAC_KEY! });
 * app.use(authenticate({ issuer, audience, introspection: { clientId, clientSecret, store } }));
 * ```
 */
export function redisIntrospectionStore(options: RedisIntrospectionStoreOptions): RedisIntrospectionStore {
  return new RedisIntrospectionStore(options);
}
