/**
 * Shared helpers of the Express adapter tests. Not a test file itself (no `.test.ts`).
 *
 * The expected `error_description` strings are written out here on purpose: they are part of the
 * wire contract (docs/errors.md), so a change to them must break these tests.
 */
import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';

import type { Principal } from '@bearer-guard/express';
import type { Express, Request, RequestHandler, Response } from 'express';

/**
 * Deadline (ms) of discovery / JWKS calls for guards that are meant to reach the stub: generous, so
 * a loaded machine cannot turn a slow happy path into a 503. Only guards facing a stub that hangs use
 * {@link SHORT_TIMEOUT}; it bounds how long those tests take.
 */
export const TIMEOUT = 2000;
export const SHORT_TIMEOUT = 300;

export const DESCRIPTION = {
  headerMalformed: 'The Authorization header is not a valid Bearer credential.',
  multipleMethods: 'The access token was sent by more than one method.',
  malformed: 'The access token is malformed.',
  signatureInvalid: 'The access token signature is invalid.',
  algorithmRejected: 'The access token is signed with an algorithm that is not accepted.',
  keyUnknown: 'The access token is signed with an unknown key.',
  expired: 'The access token expired.',
  notYetValid: 'The access token is not valid yet.',
  issuerInvalid: 'The access token was not issued by a trusted issuer.',
  audienceInvalid: 'The access token is not meant for this resource.',
  typeInvalid: 'The access token has an unexpected type.',
  claimInvalid: 'The access token has a missing or invalid claim.',
  senderConstrained: 'The access token is bound to a key and cannot be used as a bearer token.',
  insufficientScope: 'The access token does not carry the scope this resource requires.',
  jwksUnavailable: 'The keys needed to validate the access token cannot be retrieved. Try again later.',
  discoveryUnavailable: 'The authorization server metadata cannot be retrieved. Try again later.',
} as const;

/** `Bearer realm="…", error="invalid_request", error_description="…"` */
export function invalidRequest(description: string, realm = 'api'): string {
  return `Bearer realm="${realm}", error="invalid_request", error_description="${description}"`;
}

/** `Bearer realm="…", error="invalid_token", error_description="…"` */
export function invalidToken(description: string, realm = 'api'): string {
  return `Bearer realm="${realm}", error="invalid_token", error_description="${description}"`;
}

/** `Bearer realm="…", error="insufficient_scope", error_description="…", scope="…"` */
export function insufficientScope(scope: string, realm = 'api'): string {
  return `Bearer realm="${realm}", error="insufficient_scope", error_description="${DESCRIPTION.insufficientScope}", scope="${scope}"`;
}

/** A route handler that counts its calls and records `req.auth`, answering 200 `{ ok, subject }`. */
export interface Probe {
  readonly handler: RequestHandler;
  readonly calls: number;
  /** `req.auth` of every call, in order (`undefined` for anonymous calls). */
  readonly principals: (Principal | undefined)[];
  /** Whether `req` had an own or inherited `auth` property on the last call. */
  readonly lastHadAuth: boolean;
}

export function probe(): Probe {
  const principals: (Principal | undefined)[] = [];
  let lastHadAuth = false;
  return {
    handler(req: Request, res: Response): void {
      principals.push(req.auth);
      lastHadAuth = 'auth' in req;
      res.json({ ok: true, subject: req.auth?.subject ?? null });
    },
    get calls() {
      return principals.length;
    },
    principals,
    get lastHadAuth() {
      return lastHadAuth;
    },
  };
}

/** Asserts the RFC 6750 error answer rendered by `errorHandler()`. */
export function assertErrorBody(body: unknown, error: string, description?: string): void {
  assert.deepEqual(body, description === undefined ? { error } : { error, error_description: description });
}

export interface RawResponse {
  status: number;
  /** Header names lower-cased; repeated headers joined with `, `. */
  headers: Record<string, string>;
  body: string;
}

/**
 * Send bytes that a well-behaved client (supertest) refuses to produce: repeated `Authorization`
 * lines, latin1 bytes, … `headerLines` are written as is (latin1), each followed by CRLF.
 */
export async function rawRequest(
  app: Express,
  requestLine: string,
  headerLines: string[],
): Promise<RawResponse> {
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const text = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.setTimeout(5000, () => socket.destroy(new Error('raw request timed out')));
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', reject);
      socket.on('end', () => {
        resolve(Buffer.concat(chunks).toString('latin1'));
      });
      const head = [requestLine, 'Host: 127.0.0.1', ...headerLines, 'Connection: close', '', ''].join('\r\n');
      socket.write(Buffer.from(head, 'latin1'));
    });
    const [head = '', body = ''] = text.split('\r\n\r\n', 2);
    const [statusLine = '', ...lines] = head.split('\r\n');
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1]);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    return { status, headers, body };
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
  }
}

/** Milliseconds `fn` took, with its result. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const started = performance.now();
  const result = await fn();
  return { result, ms: performance.now() - started };
}

/**
 * A compact ES256 JWS over `payloadJson` written by hand, for claims sets a JOSE library will not
 * serialize (e.g. nesting deeper than JSON.stringify's recursion limit). `privateKey` is a P-256 key.
 */
export function signEs256(
  privateKey: KeyObject,
  payloadJson: string,
  header: Record<string, unknown> = {},
): string {
  const encode = (text: string): string => Buffer.from(text, 'utf8').toString('base64url');
  const input = `${encode(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', ...header }))}.${encode(payloadJson)}`;
  const signature = sign('sha256', Buffer.from(input, 'ascii'), {
    key: privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  return `${input}.${signature.toString('base64url')}`;
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);
