import { BearerGuard, type GuardOptions, type ResourceRequest } from '@bearer-guard/core';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { GUARD } from './request.js';

/** The middleware `authenticate()` returns, with its guard for warm-up and events. */
export interface AuthenticateMiddleware extends RequestHandler {
  /** The underlying framework-agnostic guard (`guard.on(…)` for events). */
  readonly guard: BearerGuard;
  /** Discover metadata and load keys now; rejects with a `ConfigurationError` when an issuer is unusable. */
  ready(): Promise<void>;
}

/**
 * The request as the core should see it. Node keeps only the first of repeated `Authorization`
 * header lines in `req.headers` (it discards duplicates of that field), so `Authorization: Bearer a`
 * + `Authorization: Bearer b` would be checked as `a` alone while a proxy in front may have looked
 * at `b`. A repeated header is handed to the core as an array, which it refuses as malformed (400).
 */
function resourceRequest(req: Request): ResourceRequest {
  if (req.headers.authorization === undefined) return req;
  const raw = req.rawHeaders;
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name?.length === 13 && name.toLowerCase() === 'authorization') count += 1;
  }
  if (count < 2) return req;
  return {
    method: req.method,
    headers: { ...req.headers, authorization: req.headersDistinct.authorization },
    get query(): unknown {
      return req.query;
    },
    get body(): unknown {
      return req.body as unknown;
    },
  };
}

/**
 * Validate the bearer token of every request and set `req.auth`.
 *
 * Options are validated here, at start-up: a wrong option throws a `ConfigurationError` that says
 * what to change. On failure the middleware calls `next(err)` with a `BearerGuardError`, whose
 * `status` and `headers` (`WWW-Authenticate`, `Retry-After`) Express's own error handling honours;
 * `errorHandler()` adds a JSON body. Nothing here trusts a gateway in front: every request is
 * checked on its own.
 *
 * @example
 * app.use(authenticate({ issuer: 'https://as.example.com', audience: 'https://orders.example.com' }));
 * app.get('/orders', requireScopes('orders:read'), listOrders);
 * @see RFC 6750 §2, §3
 */
export function authenticate(options: GuardOptions | BearerGuard): AuthenticateMiddleware {
  const guard = options instanceof BearerGuard ? options : new BearerGuard(options);
  const middleware = function bearerGuardAuthenticate(
    req: Request,
    _res: Response,
    next: NextFunction,
  ): void {
    req[GUARD] = guard;
    let result;
    try {
      // A token seen before is answered synchronously: no promise, no microtask.
      result = guard.authenticateNow(resourceRequest(req));
    } catch (error) {
      next(error);
      return;
    }
    if (!(result instanceof Promise)) {
      if (result !== undefined) req.auth = result;
      next();
      return;
    }
    result.then((principal) => {
      req.auth = principal;
      next();
    }, next);
  };
  return Object.assign(middleware, { guard, ready: () => guard.ready() });
}
