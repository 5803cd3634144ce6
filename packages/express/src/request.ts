import type { BearerGuard, Principal } from '@bearer-guard/core';
import type { NextFunction, Request, Response } from 'express';

/** Where `authenticate()` leaves its guard for the route guards after it. */
export const GUARD: unique symbol = Symbol.for('@bearer-guard/express.guard');

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /**
       * The validated caller, set by `authenticate()`; absent for anonymous requests
       * (`credentialsRequired: false`) and on routes without `authenticate()`. Wrap a handler in
       * `authorized()` to see it as a definite `Principal`.
       */
      auth?: Principal;
      /** @internal */
      [GUARD]?: BearerGuard;
    }
  }
}

/* eslint-disable @typescript-eslint/no-explicit-any -- Express's own defaults, so the types match its handlers'. */
/**
 * A request that passed `authenticate()` with a token: `req.auth` is a definite `Principal`. The
 * type parameters are Express's own (route parameters, response body, request body, query,
 * `res.locals`), with its defaults. Handlers wrapped in {@link authorized} receive it.
 */
export type AuthenticatedRequest<
  P = Request['params'],
  ResBody = any,
  ReqBody = any,
  ReqQuery = Request['query'],
  Locals extends Record<string, any> = Record<string, any>,
> = Request<P, ResBody, ReqBody, ReqQuery, Locals> & { auth: Principal };

/** A route handler that runs only for authenticated requests; see {@link authorized}. */
export type AuthorizedHandler<
  P = Request['params'],
  ResBody = any,
  ReqBody = any,
  ReqQuery = Request['query'],
  Locals extends Record<string, any> = Record<string, any>,
> = (
  req: AuthenticatedRequest<P, ResBody, ReqBody, ReqQuery, Locals>,
  res: Response<ResBody, Locals>,
  next: NextFunction,
) => unknown;
/* eslint-enable @typescript-eslint/no-explicit-any */
