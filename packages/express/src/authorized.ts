import { ConfigurationError, type Principal } from '@bearer-guard/core';
import type { Request, RequestHandler } from 'express';
import type { AuthorizedHandler } from './request.js';
import { guardOf } from './require-scopes.js';

/**
 * Run `handler` only for a request `authenticate()` has validated a token for, and type its
 * `req.auth` as a definite `Principal`: the one typed way to read the caller without a cast or a
 * `?.`. Put route guards (`requireScopes()`, …) before it as usual; this adds no authorization.
 *
 * An anonymous request (with `credentialsRequired: false`) is answered 401 with the bare
 * challenge (RFC 6750 §3.1), like a route guard does; without `authenticate()` before it, the
 * request fails with `ERR_BEARER_CONFIG_MIDDLEWARE_ORDER`. The handler's return value is passed
 * on, so Express 5 forwards a rejected promise to the error handlers.
 *
 * The type parameters are Express's (route parameters, bodies, query, locals). As with any
 * middleware before a handler, Express cannot infer route parameters through it: name them,
 * `authorized<{ id: string }>((req, res) => …)`.
 *
 * @example
 * app.get('/orders', requireScopes('orders:read'), authorized((req, res) => {
 *   res.json({ caller: req.auth.subject });
 * }));
 * @see RFC 6750 §3.1
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- Express's own defaults */
export function authorized<
  P = Request['params'],
  ResBody = any,
  ReqBody = any,
  ReqQuery = Request['query'],
  Locals extends Record<string, any> = Record<string, any>,
>(
  handler: AuthorizedHandler<P, ResBody, ReqBody, ReqQuery, Locals>,
): RequestHandler<P, ResBody, ReqBody, ReqQuery, Locals> {
  /* eslint-enable @typescript-eslint/no-explicit-any */
  if (typeof handler !== 'function') {
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_INVALID_OPTION',
      'bearer-guard: authorized() needs a route handler, e.g. authorized((req, res) => res.json(req.auth.subject)).',
    );
  }
  return function bearerGuardAuthorized(req, res, next): unknown {
    let guard;
    try {
      guard = guardOf(req, 'authorized');
    } catch (error) {
      next(error);
      return undefined;
    }
    if (req.auth === undefined) {
      next(guard.missingCredentials());
      return undefined;
    }
    return handler(req as typeof req & { auth: Principal }, res, next);
  };
}
