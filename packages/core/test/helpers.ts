/**
 * Small helpers shared by the core's tests. Not a test file itself (mocha only loads *.test.ts).
 */
import assert from 'node:assert/strict';

import { BearerGuardError, ConfigurationError } from '@bearer-guard/core';
import type { BearerErrorCode, ConfigurationErrorCode } from '@bearer-guard/core';

/** Seconds since the epoch, like JWT time claims. */
export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

/** The rejection of `promise`; fails the test when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return assert.fail('expected a rejection, got a resolved promise');
}

/** The exception thrown by `fn`; fails the test when it returns. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return assert.fail('expected an exception');
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${error.name}${typeof code === 'string' ? ` ${code}` : ''}: ${error.message}`;
  }
  return String(error);
}

/** Asserts `error` is a BearerGuardError with `code` (and its table status), and returns it. */
export function assertBearerError(error: unknown, code: BearerErrorCode, status?: number): BearerGuardError {
  assert.ok(error instanceof BearerGuardError, `expected BearerGuardError ${code}, got ${describeError(error)}`);
  assert.equal(error.code, code, `expected ${code}, got ${describeError(error)}; cause: ${describeError(error.cause)}`);
  if (status !== undefined) assert.equal(error.status, status);
  return error;
}

/** Awaits `promise`, which must reject with a BearerGuardError of `code`. */
export async function rejectsWith(
  promise: Promise<unknown>,
  code: BearerErrorCode,
  status?: number,
): Promise<BearerGuardError> {
  return assertBearerError(await rejection(promise), code, status);
}

/** Asserts `error` is a ConfigurationError with `code` whose message mentions every `mentions`. */
export function assertConfigError(
  error: unknown,
  code: ConfigurationErrorCode,
  ...mentions: string[]
): ConfigurationError {
  assert.ok(error instanceof ConfigurationError, `expected ConfigurationError ${code}, got ${describeError(error)}`);
  assert.ok(error instanceof TypeError, 'a ConfigurationError is a TypeError');
  assert.equal(error.code, code, `expected ${code}, got ${describeError(error)}`);
  assert.equal(error.status, 500);
  for (const mention of mentions) {
    assert.ok(error.message.includes(mention), `message ${JSON.stringify(error.message)} should mention ${mention}`);
  }
  return error;
}

/** `fn` must throw a ConfigurationError of `code` whose message mentions every `mentions`. */
export function throwsConfig(fn: () => unknown, code: ConfigurationErrorCode, ...mentions: string[]): ConfigurationError {
  return assertConfigError(thrown(fn), code, ...mentions);
}
