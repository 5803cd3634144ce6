/**
 * Small helpers shared by the core's tests. Not a test file itself (mocha only loads *.test.ts).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

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
  assert.ok(
    error instanceof BearerGuardError,
    `expected BearerGuardError ${code}, got ${describeError(error)}`,
  );
  assert.equal(
    error.code,
    code,
    `expected ${code}, got ${describeError(error)}; cause: ${describeError(error.cause)}`,
  );
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
  assert.ok(
    error instanceof ConfigurationError,
    `expected ConfigurationError ${code}, got ${describeError(error)}`,
  );
  assert.ok(error instanceof TypeError, 'a ConfigurationError is a TypeError');
  assert.equal(error.code, code, `expected ${code}, got ${describeError(error)}`);
  assert.equal(error.status, 500);
  for (const mention of mentions) {
    assert.ok(
      error.message.includes(mention),
      `message ${JSON.stringify(error.message)} should mention ${mention}`,
    );
  }
  return error;
}

/** `fn` must throw a ConfigurationError of `code` whose message mentions every `mentions`. */
export function throwsConfig(
  fn: () => unknown,
  code: ConfigurationErrorCode,
  ...mentions: string[]
): ConfigurationError {
  return assertConfigError(thrown(fn), code, ...mentions);
}

/** A tiny HTTP server on 127.0.0.1 for answers the testkit stub does not give. `close()` ends every socket. */
export interface TinyServer {
  readonly origin: string;
  readonly hits: number;
  close(): Promise<void>;
}

export async function startTinyServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<TinyServer> {
  const server = createServer();
  const sockets = new Set<Socket>();
  let hits = 0;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    hits += 1;
    handler(req, res);
  });
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    origin: `http://127.0.0.1:${String(port)}`,
    get hits() {
      return hits;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}

/** The stub's discovery and key counters (the stub may count more endpoints than these). */
export function discoveryCounters(stub: {
  counters: { jwks: number; oauthMetadata: number; openidConfiguration: number; attackerJwks: number };
}): { jwks: number; oauthMetadata: number; openidConfiguration: number; attackerJwks: number } {
  const { jwks, oauthMetadata, openidConfiguration, attackerJwks } = stub.counters;
  return { jwks, oauthMetadata, openidConfiguration, attackerJwks };
}
