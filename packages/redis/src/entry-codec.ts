import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

import type { IntrospectionCacheEntry } from '@bearer-guard/core';

import { invalid, missing } from './options.js';
import { RedisStoreError } from './store-error.js';

/** RFC 2104 §3: a key shorter than the hash output (32 bytes for SHA-256) weakens the HMAC. */
export const MIN_HMAC_KEY_BYTES = 32;

const HMAC_KEY_HELP =
  `a secret of at least ${String(MIN_HMAC_KEY_BYTES)} bytes, the same on every replica ` +
  '(a string, e.g. from `openssl rand -base64 32`, or a Uint8Array)';

/** The configured secret as bytes; its value never appears in a message. */
export function hmacKeyOption(path: string, value: unknown): Uint8Array {
  if (value === undefined) throw missing(path, HMAC_KEY_HELP);
  const bytes =
    typeof value === 'string' ? Buffer.from(value, 'utf8') : value instanceof Uint8Array ? value : undefined;
  if (bytes === undefined) throw invalid(path, value, HMAC_KEY_HELP);
  if (bytes.byteLength < MIN_HMAC_KEY_BYTES) {
    throw invalid(path, `<${String(bytes.byteLength)} bytes>`, HMAC_KEY_HELP);
  }
  return bytes;
}

/** The decoded value of a cache entry: the entry, and when it expires (epoch ms). */
export interface StoredEntry {
  entry: IntrospectionCacheEntry;
  expiresAt: number;
}

export interface StoredText {
  text: string;
  entry: IntrospectionCacheEntry;
}

/**
 * Keys and values of introspection entries in Redis. Two keys are derived from `hmacKey` (HKDF,
 * RFC 5869), one per use:
 *
 * - the Redis key is `<prefix>introspection:v1:` + HMAC-SHA256 of the core's key, itself a
 *   SHA-256 of the guard's namespace and the token: without the secret, whoever reads Redis cannot
 *   tell whether a token they hold is cached, nor write an entry for one;
 * - the value is `<tag>.<expiresAt>.<JSON of the entry>`, the tag an HMAC-SHA256 over the Redis key,
 *   the expiry and the JSON: whoever can write to Redis can delete entries but not forge, alter or
 *   move one (an altered scope, or one token's answer under another's key, is a miss).
 */
export class EntryCodec {
  readonly #keyMac: Buffer;
  readonly #valueMac: Buffer;
  readonly #prefix: string;

  constructor(secret: Uint8Array, keyPrefix: string) {
    this.#keyMac = Buffer.from(hkdfSync('sha256', secret, '', 'bearer-guard redis introspection key v1', 32));
    this.#valueMac = Buffer.from(
      hkdfSync('sha256', secret, '', 'bearer-guard redis introspection value v1', 32),
    );
    this.#prefix = `${keyPrefix}introspection:v1:`;
  }

  redisKey(key: string): string {
    return this.#prefix + createHmac('sha256', this.#keyMac).update(key).digest('base64url');
  }

  /** The value to store, of the entry without `principal` (a shared store holds claims only), and that entry. */
  encode(redisKey: string, value: IntrospectionCacheEntry, expiresAt: number): StoredText {
    const entry: IntrospectionCacheEntry = value.active
      ? { active: true, context: value.context, claims: value.claims }
      : { active: false, context: value.context };
    const body = `${String(expiresAt)}.${JSON.stringify(entry)}`;
    return { text: `${this.#tag(redisKey, body)}.${body}`, entry };
  }

  /** The entry of a stored value; throws `ERR_BEARER_REDIS_INVALID_ENTRY` for anything this store did not write. */
  decode(redisKey: string, text: string): StoredEntry {
    const dot = text.indexOf('.');
    const body = text.slice(dot + 1);
    const tag = Buffer.from(text.slice(0, Math.max(0, dot)), 'utf8');
    const expected = Buffer.from(this.#tag(redisKey, body), 'utf8');
    if (dot <= 0 || tag.length !== expected.length || !timingSafeEqual(tag, expected)) {
      throw new RedisStoreError(
        'ERR_BEARER_REDIS_INVALID_ENTRY',
        'the cached value was not written by a store with this hmacKey (corrupt, foreign or altered)',
      );
    }
    const split = body.indexOf('.');
    const expiresAt = Number(body.slice(0, split));
    let entry: unknown;
    try {
      entry = JSON.parse(body.slice(split + 1));
    } catch (cause) {
      throw new RedisStoreError('ERR_BEARER_REDIS_INVALID_ENTRY', 'the cached value is not JSON', { cause });
    }
    if (!Number.isSafeInteger(expiresAt) || typeof entry !== 'object' || entry === null) {
      throw new RedisStoreError('ERR_BEARER_REDIS_INVALID_ENTRY', 'the cached value has no expiry or entry');
    }
    // Its shape and namespace are checked again by the core (`malformedEntry`) on every read.
    return { entry: entry as IntrospectionCacheEntry, expiresAt };
  }

  #tag(redisKey: string, body: string): string {
    return createHmac('sha256', this.#valueMac)
      .update(redisKey)
      .update('\n')
      .update(body)
      .digest('base64url');
  }
}
