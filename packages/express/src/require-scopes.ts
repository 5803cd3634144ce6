import { ConfigurationError, requiredScopes, type BearerGuard } from '@bearer-guard/core';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { GUARD } from './request.js';

/** The guard `authenticate()` left on the request, or a configuration error naming the caller. */
export function guardOf(req: Pick<Request, typeof GUARD>, caller: string): BearerGuard {
  const guard = req[GUARD];
  if (guard === undefined) {
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_MIDDLEWARE_ORDER',
      `bearer-guard: ${caller}() ran without authenticate() before it. Add app.use(authenticate({ … })) ` +
        'ahead of this route or router.',
    );
  }
  return guard;
}

function scopeGuard(
  caller: string,
  mode: 'all' | 'any',
  scopes: (string | readonly string[])[],
): RequestHandler {
  const required = requiredScopes(caller, scopes);
  const name = mode === 'all' ? 'bearerGuardRequireScopes' : 'bearerGuardRequireAnyScope';
  const handler = {
    [name](req: Request, _res: Response, next: NextFunction): void {
      try {
        guardOf(req, caller).requireScopes(req.auth, required, mode);
      } catch (error) {
        next(error);
        return;
      }
      next();
    },
  }[name];
  return handler as RequestHandler;
}

/**
 * Require every listed scope. Answers 403 `insufficient_scope` with `scope="a b"` otherwise
 * (RFC 6750 §3.1). Matching is exact and case-sensitive (RFC 6749 §3.3). Works on a route, a router
 * or the whole app, after `authenticate()`.
 *
 * @example app.get('/orders', requireScopes('orders:read'), handler)
 */
export function requireScopes(...scopes: (string | readonly string[])[]): RequestHandler {
  return scopeGuard('requireScopes', 'all', scopes);
}

/**
 * Require at least one of the listed scopes; otherwise 403 `insufficient_scope` naming them all.
 *
 * @example app.get('/reports', requireAnyScope('reports:read', 'admin'), handler)
 */
export function requireAnyScope(...scopes: (string | readonly string[])[]): RequestHandler {
  return scopeGuard('requireAnyScope', 'any', scopes);
}
