import { ConfigurationError } from '@bearer-guard/core';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { guardOf } from './require-scopes.js';

/**
 * Narrow a route or router to tokens whose `aud` contains one of `audiences` (RFC 9068 §4),
 * e.g. when one service hosts two APIs. Otherwise 401 `invalid_token`.
 *
 * @example router.use(requireAudience('https://billing.example.com'))
 */
export function requireAudience(...audiences: string[]): RequestHandler {
  if (audiences.length === 0 || audiences.some((aud) => typeof aud !== 'string' || aud === '')) {
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_INVALID_OPTION',
      "bearer-guard: requireAudience() needs one or more non-empty audience strings, e.g. requireAudience('https://billing.example.com').",
    );
  }
  return function bearerGuardRequireAudience(req: Request, _res: Response, next: NextFunction): void {
    try {
      guardOf(req, 'requireAudience').requireAudience(req.auth, audiences);
    } catch (error) {
      next(error);
      return;
    }
    next();
  };
}
