import { BearerGuardError, ConfigurationError } from '@bearer-guard/core';
import type { ErrorRequestHandler, NextFunction, Request, Response } from 'express';

export interface ErrorHandlerOptions {
  /** Called with every bearer-guard error before it is rendered, e.g. to log `error.cause`. */
  onError?: ((error: BearerGuardError | ConfigurationError, req: Request) => void) | undefined;
}

/**
 * Render bearer-guard errors as `{ "error", "error_description" }` JSON with their status and
 * `WWW-Authenticate` / `Retry-After` headers. Other errors pass on to the next error handler.
 * A `ConfigurationError` (a wiring mistake) answers 500 `server_error` without details.
 */
export function errorHandler(options: ErrorHandlerOptions = {}): ErrorRequestHandler {
  const { onError } = options;
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
