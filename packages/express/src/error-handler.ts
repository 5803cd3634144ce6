import { BearerGuardError, ConfigurationError } from '@bearer-guard/core';
import type { ErrorRequestHandler, NextFunction, Request, Response } from 'express';
import process from 'node:process';

/** Called with a bearer-guard error and the request it answers. */
export type ErrorReporter = (error: BearerGuardError | ConfigurationError, req: Request) => void;

export interface ErrorHandlerOptions {
  /**
   * Called with every bearer-guard error before it is rendered (4xx and 5xx), e.g. to log
   * `error.cause` or count codes. An exception it throws is ignored: a failing logger must not
   * change the answer.
   *
   * Defaults to {@link reportServerError}: one line on stderr for each 5xx (a configuration error
   * such as `ERR_BEARER_CONFIG_MIDDLEWARE_ORDER`, or a 503 and its cause), nothing for a 4xx: a
   * bad or missing token is the caller's problem, and logging each one would let any client fill
   * the log. `false` reports nothing.
   */
  onError?: ErrorReporter | false | undefined;
}

const KNOWN_OPTIONS = new Set(['onError']);
const MAX_CAUSES = 8;

/**
 * The tokens a request presents (the `Authorization` credential, an `access_token` in the query or
 * a form body), so that they can be cut out of a log line whatever an upstream echoed back.
 */
function presentedTokens(req: Request): string[] {
  const found: unknown[] = [];
  const authorization = req.headers.authorization;
  if (typeof authorization === 'string')
    found.push(
      ...authorization
        .trim()
        .split(/[\s,]+/)
        .slice(1),
    );
  try {
    found.push((req.query as Record<string, unknown> | undefined)?.['access_token']);
  } catch {
    // A query the parser refuses holds no token we could print.
  }
  const body: unknown = req.body;
  if (typeof body === 'object' && body !== null)
    found.push((body as Record<string, unknown>)['access_token']);
  // Short strings would blank out ordinary words; no real token is that short.
  return found.flat().filter((value): value is string => typeof value === 'string' && value.length >= 8);
}

/**
 * The HTTP status and RFC 6749 §5.2 `error` an upstream answered with, which oauth4webapi keeps
 * beside its message ("server responded with an error in the response body", or "… with a
 * challenge", whose `cause` holds the parsed challenges), e.g. ` (HTTP 401 invalid_client)`.
 */
function answer(cause: unknown): string {
  if (!(cause instanceof Error)) return '';
  const { status, error, cause: inner } = cause as { status?: unknown; error?: unknown; cause?: unknown };
  if (typeof status !== 'number') return '';
  const challenged: unknown = Array.isArray(inner)
    ? (inner[0] as { parameters?: { error?: unknown } } | undefined)?.parameters?.error
    : undefined;
  const code = typeof error === 'string' ? error : challenged;
  // An error code is a short token (RFC 6749 §5.2); anything else is not repeated.
  return typeof code === 'string' && /^[\x21-\x7e]{1,64}$/.test(code)
    ? ` (HTTP ${String(status)} ${code})`
    : ` (HTTP ${String(status)})`;
}

/**
 * The line {@link reportServerError} writes: the status, the code, the route, and the messages of the
 * error's cause chain, each once (`…/jwks: connect ECONNREFUSED 127.0.0.1:4321`). A request
 * error's own message is its fixed client-facing description, so only its causes are shown; a
 * configuration error's message says what to change, so it comes first. Any token the request
 * presented is replaced by `[token]`.
 */
export function formatErrorLine(error: BearerGuardError | ConfigurationError, req: Request): string {
  const messages: string[] = [];
  const seen = new Set<unknown>([error]);
  let current: unknown = error instanceof ConfigurationError ? error : error.cause;
  for (let depth = 0; depth < MAX_CAUSES && current !== undefined && current !== null; depth++) {
    // Only Error messages: a cause that is a response body or a claims set may hold anything.
    const text =
      current instanceof Error ? current.message : typeof current === 'string' ? current : undefined;
    const message =
      text === undefined
        ? undefined
        : `${text.replace(/^bearer-guard: /, '')}${current === error ? '' : answer(current)}`.trim();
    if (message !== undefined && message !== '' && !messages.some((shown) => shown.includes(message))) {
      messages.push(message);
    }
    current = current instanceof Error ? current.cause : undefined;
    if (seen.has(current)) break;
    seen.add(current);
  }
  const route = `${req.method} ${req.baseUrl}${req.path}`;
  let line = `bearer-guard: ${String(error.status)} ${error.code} (${route})`;
  if (messages.length > 0) line += `: ${messages.join(': ')}`;
  for (const token of presentedTokens(req)) line = line.split(token).join('[token]');
  return line.replace(/\s+/g, ' ');
}

/** The default `onError`: one line on stderr for a 5xx, nothing for a 4xx. */
export function reportServerError(error: BearerGuardError | ConfigurationError, req: Request): void {
  if (error.status < 500) return;
  process.stderr.write(`${formatErrorLine(error, req)}\n`);
}

function resolveReporter(options: unknown): ErrorReporter | undefined {
  if (options === undefined) return reportServerError;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_INVALID_OPTION',
      'bearer-guard: the options of errorHandler() must be an object such as { onError }.',
    );
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key) && (options as Record<string, unknown>)[key] !== undefined) {
      throw new ConfigurationError(
        'ERR_BEARER_CONFIG_UNKNOWN_OPTION',
        `bearer-guard: \`${key}\` is not an option of errorHandler(). Known options: onError.`,
      );
    }
  }
  const { onError } = options as { onError?: unknown };
  if (onError === undefined) return reportServerError;
  if (onError === false) return undefined;
  if (typeof onError !== 'function') {
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_INVALID_OPTION',
      'bearer-guard: option `onError` of errorHandler() must be a function (error, req) => void, or false to report nothing; ' +
        `received ${onError === null ? 'null' : typeof onError}.`,
    );
  }
  return onError as ErrorReporter;
}

/**
 * Render bearer-guard errors as `{ "error", "error_description" }` JSON with their status and
 * `WWW-Authenticate` / `Retry-After` headers. Other errors pass on to the next error handler.
 * A `ConfigurationError` (a wiring mistake) answers 500 `server_error` without details; the
 * details go to `onError`, which by default writes each 5xx to stderr.
 *
 * Throws a `ConfigurationError` for an unknown option or an `onError` that is not a function or `false`.
 */
export function errorHandler(options: ErrorHandlerOptions = {}): ErrorRequestHandler {
  const onError = resolveReporter(options);
  return function bearerGuardErrorHandler(
    error: unknown,
    req: Request,
    res: Response,
    next: NextFunction,
  ): void {
    if (!(error instanceof BearerGuardError) && !(error instanceof ConfigurationError)) {
      next(error);
      return;
    }
    try {
      onError?.(error, req);
    } catch {
      // A failing logger must not turn a 401 into a 500 without its challenge.
    }
    if (res.headersSent) {
      next(error);
      return;
    }
    if (error instanceof ConfigurationError) {
      res.status(500).json({ error: 'server_error' });
      return;
    }
    res.status(error.status).set(error.headers).json(error.toJSON());
  };
}
