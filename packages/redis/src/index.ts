/**
 * `@bearer-guard/redis`: shared stores on Redis for a guard with many replicas. An introspection
 * cache (an in-memory level per replica in front of Redis, keys and values under an HMAC) and an
 * atomic DPoP replay store. Works with node-redis and ioredis clients, or any
 * `{ sendCommand(args) }`, depending on neither.
 *
 * @packageDocumentation
 */

export { redisIntrospectionStore, RedisIntrospectionStore } from './introspection-store.js';
export type { RedisIntrospectionStoreOptions } from './introspection-store.js';
export { redisReplayStore, RedisReplayStore } from './replay-store.js';
export type { RedisReplayStoreOptions, ReplayStoreUnavailablePolicy } from './replay-store.js';
export { MIN_HMAC_KEY_BYTES } from './entry-codec.js';
export type {
  IoredisClient,
  RedisBreakerOptions,
  RedisClientLike,
  SendCommandClient,
} from './redis-command.js';
export { RedisStoreError } from './store-error.js';
export type { RedisStoreErrorCode, RedisStoreErrorEvent } from './store-error.js';
