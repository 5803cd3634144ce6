import type { ServerResponse } from 'node:http';

import type { EndpointBehaviour } from './types.js';

/** Default body size of the `huge` behaviour: 2 MiB. */
export const DEFAULT_HUGE_BYTES = 2 * 1024 * 1024;

/** A normal answer: a status and a JSON document. */
export interface JsonAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** Where a behaviour parks what must be torn down on close. */
export interface PendingWork {
  /** Responses that will never be answered (the `hang` behaviour). */
  readonly hung: Set<ServerResponse>;
  /** Timers of `slow` answers. */
  readonly timers: Set<NodeJS.Timeout>;
}

/** Writes a complete response; every answer of the stub is `Cache-Control: no-store`. */
export function send(
  res: ServerResponse,
  status: number,
  contentType: string | undefined,
  body: string,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed || res.writableEnded) return;
  res.statusCode = status;
  res.setHeader('Cache-Control', 'no-store');
  if (contentType !== undefined) res.setHeader('Content-Type', contentType);
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('Content-Length', Buffer.byteLength(body, 'utf8'));
  res.end(body);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers?: Record<string, string>,
): void {
  send(res, status, 'application/json', JSON.stringify(body), headers);
}

/** Answers `404 {"error":"not_found"}`. */
export function sendNotFound(res: ServerResponse): void {
  sendJson(res, 404, { error: 'not_found' });
}

/**
 * A JSON body of exactly `bytes` bytes: `document` with a `"padding"` string member appended, or
 * `{"padding":"…"}` when the document does not fit, or digits for tiny sizes.
 */
export function hugeBody(document: unknown, bytes: number): string {
  const fill = (base: string): string | undefined => {
    const missing = bytes - Buffer.byteLength(base, 'utf8');
    // base ends with `""}`: the padding goes between the quotes.
    return missing < 0 ? undefined : `${base.slice(0, -2)}${'a'.repeat(missing)}"}`;
  };
  const isObject = typeof document === 'object' && document !== null && !Array.isArray(document);
  return (
    (isObject ? fill(JSON.stringify({ ...document, padding: '' })) : undefined) ??
    fill('{"padding":""}') ??
    '1'.repeat(bytes)
  );
}

/** Throws a TypeError if `behaviour` is not a well-formed {@link EndpointBehaviour}. */
export function validateBehaviour(behaviour: EndpointBehaviour): void {
  const invalid = (why: string): never => {
    throw new TypeError(`testkit: invalid behaviour ${JSON.stringify(behaviour)}: ${why}`);
  };
  switch (behaviour.mode) {
    case 'ok':
    case 'hang':
    case 'garbage':
    case 'html':
    case 'notFound':
      return;
    case 'fail':
      if (
        behaviour.status !== undefined &&
        !(Number.isInteger(behaviour.status) && behaviour.status >= 200 && behaviour.status <= 599)
      ) {
        invalid('status must be an integer from 200 to 599');
      }
      return;
    case 'slow':
      if (!(Number.isFinite(behaviour.delayMs) && behaviour.delayMs >= 0))
        invalid('delayMs must be a number >= 0');
      return;
    case 'huge':
      if (behaviour.bytes !== undefined && !(Number.isSafeInteger(behaviour.bytes) && behaviour.bytes >= 0)) {
        invalid('bytes must be an integer >= 0');
      }
      return;
    case 'redirect':
      if (typeof behaviour.location !== 'string' || behaviour.location === '')
        invalid('location must be a non-empty string');
      return;
    default:
      invalid('unknown mode');
  }
}

/**
 * Answers `res` according to `behaviour`; `answer` produces the normal answer (evaluated when it
 * is sent, so a `slow` answer reflects the state at that time).
 */
export function respond(
  res: ServerResponse,
  behaviour: EndpointBehaviour,
  answer: () => JsonAnswer,
  pending: PendingWork,
): void {
  switch (behaviour.mode) {
    case 'ok': {
      const { status, body } = answer();
      sendJson(res, status, body);
      return;
    }
    case 'fail':
      sendJson(res, behaviour.status ?? 500, { error: 'server_error' });
      return;
    case 'hang':
      pending.hung.add(res);
      res.once('close', () => pending.hung.delete(res));
      return;
    case 'slow': {
      const timer = setTimeout(() => {
        pending.timers.delete(timer);
        const { status, body } = answer();
        sendJson(res, status, body);
      }, behaviour.delayMs);
      pending.timers.add(timer);
      return;
    }
    case 'garbage':
      send(res, 200, 'application/json', '{"keys": [ this is <not> JSON ');
      return;
    case 'html':
      send(
        res,
        200,
        'text/html; charset=utf-8',
        '<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body><h1>Please sign in</h1></body></html>\n',
      );
      return;
    case 'huge': {
      const { status, body } = answer();
      send(
        res,
        200,
        'application/json',
        hugeBody(status === 200 ? body : {}, behaviour.bytes ?? DEFAULT_HUGE_BYTES),
      );
      return;
    }
    case 'redirect':
      send(res, 302, undefined, '', { Location: behaviour.location });
      return;
    case 'notFound':
      sendNotFound(res);
      return;
  }
}
