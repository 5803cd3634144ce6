import { BearerGuardError, ConfigurationError } from '@bearer-guard/express';
import type { ErrorRequestHandler, Response } from 'express';
import { MetadataUnavailableError } from './authorization-server-metadata.js';

/** FHIR's JSON media type (FHIR R4 §3.1.0.1.2: http.html#mime-type). */
export const FHIR_JSON = 'application/fhir+json';

/** FHIR R4 IssueType codes this service uses. @see https://hl7.org/fhir/R4/valueset-issue-type.html */
export type IssueType =
  | 'invalid'
  | 'not-supported'
  | 'login'
  | 'expired'
  | 'forbidden'
  | 'not-found'
  | 'throttled'
  | 'transient'
  | 'exception';

export interface OperationOutcome {
  readonly resourceType: 'OperationOutcome';
  readonly issue: readonly { severity: 'error' | 'fatal'; code: IssueType; diagnostics: string }[];
}

export function operationOutcome(code: IssueType, diagnostics: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] };
}

/** Send a FHIR resource as `application/fhir+json; charset=utf-8`. */
export function sendResource(res: Response, status: number, resource: object): void {
  res.status(status).type(FHIR_JSON).send(JSON.stringify(resource));
}

export function sendOutcome(res: Response, status: number, code: IssueType, diagnostics: string): void {
  sendResource(res, status, operationOutcome(code, diagnostics));
}

/** The FHIR issue type of a bearer-guard error, from its RFC 6750 `error` and code. */
function issueType(error: BearerGuardError): IssueType {
  switch (error.error) {
    case undefined:
      return 'login';
    case 'invalid_token':
      return error.code === 'ERR_BEARER_TOKEN_EXPIRED' ? 'expired' : 'login';
    case 'invalid_dpop_proof':
    case 'use_dpop_nonce':
      return 'login';
    case 'invalid_request':
      return 'invalid';
    case 'insufficient_scope':
      return 'forbidden';
    case 'temporarily_unavailable':
      return 'transient';
  }
}

/**
 * Render every error as an OperationOutcome. bearer-guard errors keep their status and headers
 * (`WWW-Authenticate` for 401/403, `Retry-After` for 503) and their fixed, client-safe description;
 * the internal reason (`cause`) is never sent. Anything unexpected is a 500 with no details.
 */
export function fhirErrorHandler(
  log: (message: string, error: unknown) => void = console.error,
): ErrorRequestHandler {
  return function fhirOperationOutcome(error: unknown, _req, res, next): void {
    if (res.headersSent) {
      next(error);
      return;
    }
    if (error instanceof BearerGuardError) {
      res.set(error.headers);
      const diagnostics = error.error_description ?? 'An access token is required.';
      sendOutcome(res, error.status, issueType(error), diagnostics);
      return;
    }
    if (error instanceof MetadataUnavailableError) {
      log('fhir-service: authorization-server metadata unavailable', error);
      res.set('Retry-After', String(error.retryAfter));
      sendOutcome(
        res,
        503,
        'transient',
        'The authorization server metadata cannot be retrieved. Try again later.',
      );
      return;
    }
    const { status, expose } = (error ?? {}) as { status?: unknown; expose?: unknown };
    if (
      !(error instanceof ConfigurationError) &&
      typeof status === 'number' &&
      status >= 400 &&
      status < 500 &&
      expose === true
    ) {
      sendOutcome(res, status, 'invalid', 'The request is not valid.');
      return;
    }
    log('fhir-service: unhandled error', error);
    sendOutcome(res, 500, 'exception', 'Internal server error.');
  };
}
