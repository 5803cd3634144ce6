import type { ServerResponse } from 'node:http';

import type { EndpointBehaviour } from './types.js';

/** Default body size of the `huge` behaviour: 2 MiB. */
export const DEFAULT_HUGE_BYTES = 2 * 1024 * 1024;

/**
 * A normal answer: a status and a JSON document, or, when `contentType` is given, a body sent with
 * that content type (verbatim if it is a string, else as JSON).
 */
export interface JsonAnswer {
  readonly status: number;
  readonly body: unknown;
  /** Content type of the body; default `application/json` (the body is then always serialized). */
  readonly contentType?: string;
  /** Extra response headers, e.g. `WWW-Authenticate`. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** Produces the normal answer of an endpoint, synchronously or not. */
export type AnswerFactory = () => JsonAnswer | Promise<JsonAnswer>;

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

/** Sends a {@link JsonAnswer}. */
export function sendAnswer(res: ServerResponse, answer: JsonAnswer): void {
  const { status, body, contentType, headers } = answer;
  if (contentType === undefined) {
    sendJson(res, status, body, headers);
    return;
  }
  send(res, status, contentType, typeof body === 'string' ? body : serialize(body), headers);
}

/** `JSON.stringify`, throwing a TypeError for values that have no JSON text (`undefined`, functions). */
function serialize(value: unknown): string {
  const text = JSON.stringify(value) as string | undefined;
  if (text === undefined) throw new TypeError('testkit: the body has no JSON representation');
  return text;
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

function validateStatus(status: number | undefined, invalid: (why: string) => never): void {
  if (status !== undefined && !(Number.isInteger(status) && status >= 200 && status <= 599)) {
    invalid('status must be an integer from 200 to 599');
  }
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
      validateStatus(behaviour.status, invalid);
      return;
    case 'json':
      validateStatus(behaviour.status, invalid);
      if (
        behaviour.contentType !== undefined &&
        (typeof behaviour.contentType !== 'string' || behaviour.contentType === '')
      ) {
        invalid('contentType must be a non-empty string');
      }
      if (typeof behaviour.body !== 'string') {
        try {
          serialize(behaviour.body);
        } catch {
          invalid('body must be a string or a JSON-serializable value');
        }
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
 * Calls `answer` and hands its result to `then`: synchronously when it is not a promise (the fast
 * path of the GET endpoints), else when it settles; a rejected answer becomes a 500.
 */
function withAnswer(res: ServerResponse, answer: AnswerFactory, then: (answer: JsonAnswer) => void): void {
  const onError = (): void => {
    sendJson(res, 500, { error: 'server_error', error_description: 'testkit: the answer failed' });
  };
  let result: JsonAnswer | Promise<JsonAnswer>;
  try {
    result = answer();
  } catch {
    onError();
    return;
  }
  if (result instanceof Promise) result.then(then, onError);
  else then(result);
}

/**
 * Answers `res` according to `behaviour`; `answer` produces the normal answer (evaluated when it
 * is sent, so a `slow` answer reflects the state at that time).
 */
export function respond(
  res: ServerResponse,
  behaviour: EndpointBehaviour,
  answer: AnswerFactory,
  pending: PendingWork,
): void {
  switch (behaviour.mode) {
    case 'ok':
      withAnswer(res, answer, (normal) => {
        sendAnswer(res, normal);
      });
      return;
    case 'json':
      sendAnswer(res, {
        status: behaviour.status ?? 200,
        body: behaviour.body,
        contentType: behaviour.contentType ?? 'application/json',
      });
      return;
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
        withAnswer(res, answer, (normal) => {
          sendAnswer(res, normal);
        });
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
      const bytes = behaviour.bytes ?? DEFAULT_HUGE_BYTES;
      withAnswer(res, answer, ({ status, body, contentType }) => {
        const document = status === 200 && contentType === undefined ? body : {};
        send(res, 200, 'application/json', hugeBody(document, bytes));
      });
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
