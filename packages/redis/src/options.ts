import { ConfigurationError } from '@bearer-guard/core';

import type { RedisStoreErrorEvent } from './store-error.js';

/** A record with exactly the keys of T, so TypeScript keeps a list of known options complete. */
export type KeysEnum<T> = { [K in keyof Required<T>]: true };

/** What a value is, for a message; never the value of a secret. */
function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return typeof value === 'symbol' ? value.toString() : `${value as number | boolean | bigint | undefined}`;
}

export function invalid(path: string, value: unknown, expected: string): ConfigurationError {
  return new ConfigurationError(
    'ERR_BEARER_CONFIG_INVALID_OPTION',
    `bearer-guard: option \`${path}\` must be ${expected}; received ${describe(value)}.`,
  );
}

export function missing(path: string, expected: string): ConfigurationError {
  return new ConfigurationError(
    'ERR_BEARER_CONFIG_MISSING_OPTION',
    `bearer-guard: option \`${path}\` is required: ${expected}.`,
  );
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The options object, its unknown keys refused (`undefined` values count as absent). */
export function optionsObject(
  path: string,
  value: unknown,
  known: Record<string, true>,
): Record<string, unknown> {
  if (!isPlainObject(value)) throw invalid(path, value, 'an options object');
  const names = Object.keys(known);
  for (const [key, entry] of Object.entries(value)) {
    if (entry === undefined || Object.hasOwn(known, key)) continue;
    const hint = names.find((name) => name.toLowerCase() === key.toLowerCase() || name.startsWith(key));
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_UNKNOWN_OPTION',
      `bearer-guard: \`${path}.${key}\` is not an option${hint === undefined ? '.' : `; did you mean \`${hint}\`?`} ` +
        `Known options of \`${path}\`: ${names.join(', ')}.`,
    );
  }
  return value;
}

export function integerOption(
  path: string,
  value: unknown,
  fallback: number,
  { min, max, unit }: { min: number; max: number; unit: string },
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(path, value, `an integer from ${String(min)} to ${String(max)} (${unit})`);
  }
  return value;
}

export function stringOption(path: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value.length > 200)
    throw invalid(path, value, 'a string of at most 200 characters');
  return value;
}

/** An `onError` listener, or `undefined`. */
export function listenerOption(
  path: string,
  value: unknown,
): ((event: RedisStoreErrorEvent) => void) | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw invalid(path, value, 'a function');
  return value as (event: RedisStoreErrorEvent) => void;
}
