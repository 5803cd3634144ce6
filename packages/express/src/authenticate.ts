import { BearerGuard, type GuardOptions, type Principal, type ResourceRequest } from '@bearer-guard/core';
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
 * at `b`; and it joins repeated `DPoP` lines with ", ". A repeated header is handed to the core as
 * an array, which it refuses (400 malformed; for `DPoP`, RFC 9449 §4.3 (1): 401 invalid_dpop_proof).
 * `req` itself already carries what the core reads (`originalUrl`, `socket`).
 */
function resourceRequest(req: Request): ResourceRequest {
  const headers = req.headers;
  if (headers.authorization === undefined && headers.dpop === undefined) return req;
  const raw = req.rawHeaders;
  let authorization = 0;
  let dpop = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name?.length === 13 && name.toLowerCase() === 'authorization') authorization += 1;
    else if (name?.length === 4 && name.toLowerCase() === 'dpop') dpop += 1;
  }
  if (authorization < 2 && dpop < 2) return req;
  return {
    method: req.method,
    headers: {
      ...headers,
      ...(authorization < 2 ? {} : { authorization: req.headersDistinct.authorization }),
      ...(dpop < 2 ? {} : { dpop: req.headersDistinct.dpop }),
    },
    originalUrl: req.originalUrl,
    socket: req.socket,
    get query(): unknown {
      return req.query;
    },
    get body(): unknown {
      return req.body as unknown;
    },
  };
}

/**
 * A DPoP-bound request that passed: with server nonces on, the next nonce rides on the answer
 * (RFC 9449 §9), and a response that carries one must not be cached (§8.2).
 */
function offerNonce(guard: BearerGuard, principal: Principal | undefined, res: Response): void {
  if (principal?.confirmation === undefined || !('jkt' in principal.confirmation)) return;
  const nonce = guard.dpopNonce();
  if (nonce === undefined) return;
  res.setHeader('DPoP-Nonce', nonce);
  res.setHeader('Cache-Control', 'no-store');
}

/**
 * Validate the bearer token of every request and set `req.auth`.
 *
 * Options are validated here, at start-up: a wrong option throws a `ConfigurationError` that says
 * what to change. On failure the middleware calls `next(err)` with a `BearerGuardError`, whose
 * `status` and `headers` (`WWW-Authenticate`, `Retry-After`) Express's own error handling honours;
 * `errorHandler()` adds a JSON body. Nothing here trusts a gateway in front: every request is
 * checked on its own, and forwarded headers count only from the peers `trustProxy` names. With
 * `dpop` and server nonces, a successful DPoP request's answer carries `DPoP-Nonce` and
 * `Cache-Control: no-store` (RFC 9449 §9).
 *
 * @example
 * app.use(authenticate({ issuer: 'https://as.example.com', audience: 'https://orders.example.com' }));
 * app.get('/orders', requireScopes('orders:read'), listOrders);
 * @see RFC 6750 §2, §3
 */
export function authenticate(options: GuardOptions | BearerGuard): AuthenticateMiddleware {
  const guard = options instanceof BearerGuard ? options : new BearerGuard(options);
  const middleware = function bearerGuardAuthenticate(req: Request, res: Response, next: NextFunction): void {
    req[GUARD] = guard;
    let result;
    try {
      // A token seen before is answered synchronously (unless a DPoP proof is to be checked): no
      // promise, no microtask.
      result = guard.authenticateNow(resourceRequest(req));
    } catch (error) {
      next(error);
      return;
    }
    if (!(result instanceof Promise)) {
      if (result !== undefined) {
        req.auth = result;
        offerNonce(guard, result, res);
      }
      next();
      return;
    }
    result.then((principal) => {
      req.auth = principal;
      offerNonce(guard, principal, res);
      next();
    }, next);
  };
  return Object.assign(middleware, { guard, ready: () => guard.ready() });
}
