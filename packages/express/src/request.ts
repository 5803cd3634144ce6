import type { BearerGuard, Principal } from '@bearer-guard/core';
import type { Request } from 'express';

/** Where `authenticate()` leaves its guard for the route guards after it. */
export const GUARD: unique symbol = Symbol.for('@bearer-guard/express.guard');

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The validated caller, set by `authenticate()`; absent for anonymous requests. */
      auth?: Principal;
      /** @internal */
      [GUARD]?: BearerGuard;
    }
  }
}

/** A request that passed `authenticate()` with a token: `req.auth` is set. */
export type AuthenticatedRequest = Request & { auth: Principal };
