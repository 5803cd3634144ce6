import {
  ConfigurationError,
  requiredSmartAccess,
  requireSmartAccess,
  type BearerGuard,
  type SmartRequestInteraction,
} from '@bearer-guard/core';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { guardOf } from './require-scopes.js';

/** Options of {@link requireSmartScope}. */
export interface SmartScopeOptions {
  /**
   * The id of the patient whose compartment the requested resource belongs to, or `undefined` when
   * there is none or it cannot be told from the request (then `patient/` scopes do not grant it).
   * Defaults to {@link defaultPatientId}. Supply one for writes, where the patient is in the body.
   */
  patientId?: ((req: Request) => string | undefined) | undefined;
}

const CALLER = 'requireSmartScope';
// FHIR R4 `id`: 1 to 64 of [A-Za-z0-9\-.]. Anything else (comma lists, URLs, `_history`) is not one patient.
const FHIR_ID = /^[A-Za-z0-9.-]{1,64}$/;

function fhirId(value: unknown): string | undefined {
  return typeof value === 'string' && FHIR_ID.test(value) ? value : undefined;
}

/** `Patient/123` → `123`; `bareAllowed` also accepts `123` (the `patient` search parameter targets Patient only). */
function patientReference(value: unknown, bareAllowed: boolean): string | undefined {
  if (typeof value !== 'string') return undefined;
  if (value.startsWith('Patient/')) return fhirId(value.slice('Patient/'.length));
  return bareAllowed ? fhirId(value) : undefined;
}

/**
 * The default patient-compartment resolver:
 *
 * - `Patient`: the route parameter `:id` (`GET /Patient/:id`); `undefined` for searches on `/Patient`.
 * - Any other type: the `patient` query parameter (`123` or `Patient/123`), else `subject` when it is
 *   `Patient/123` (a bare `subject=123` could name a Group). When both are given they must agree.
 *
 * Repeated parameters, comma lists, absolute URLs and anything that is not a FHIR id give `undefined`,
 * so `patient/` scopes grant nothing rather than guess.
 */
export function defaultPatientId(resourceType: string): (req: Request) => string | undefined {
  if (resourceType === 'Patient') return (req) => fhirId(req.params['id']);
  return (req) => {
    const { patient, subject } = req.query;
    const fromPatient = patient === undefined ? undefined : patientReference(patient, true);
    const fromSubject = subject === undefined ? undefined : patientReference(subject, false);
    if (
      (patient !== undefined && fromPatient === undefined) ||
      (subject !== undefined && fromSubject === undefined)
    ) {
      return undefined;
    }
    if (fromPatient !== undefined && fromSubject !== undefined && fromPatient !== fromSubject)
      return undefined;
    return fromPatient ?? fromSubject;
  };
}

/** The query as single strings; repeated or nested parameters are dropped, so they never satisfy a constraint. */
function singleValued(query: Request['query']): Record<string, string> {
  return Object.fromEntries(Object.entries(query).filter((entry) => typeof entry[1] === 'string')) as Record<
    string,
    string
  >;
}

function patientResolver(options: unknown, resourceType: string): (req: Request) => string | undefined {
  if (options === undefined) return defaultPatientId(resourceType);
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_INVALID_OPTION',
      `bearer-guard: ${CALLER}() options must be an object such as { patientId: (req) => req.params.pid }.`,
    );
  }
  for (const [key, value] of Object.entries(options)) {
    if (key === 'patientId' || value === undefined) continue;
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_UNKNOWN_OPTION',
      `bearer-guard: \`${key}\` is not an option of ${CALLER}(). Known options: patientId.`,
    );
  }
  const { patientId } = options as SmartScopeOptions;
  if (patientId === undefined) return defaultPatientId(resourceType);
  if (typeof patientId !== 'function') {
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_INVALID_OPTION',
      `bearer-guard: option \`patientId\` of ${CALLER}() must be a function (req) => string | undefined.`,
    );
  }
  return patientId;
}

/**
 * Require SMART App Launch access to one FHIR resource type: `interaction` is a v2 letter
 * (`c`, `r`, `u`, `d`, `s`) or a v1 name (`read` needs `r` and `s`; `write` needs `c`, `u` and `d`).
 * Grants follow `smartAccess()` of `@bearer-guard/core`: `patient/` scopes only for the token's launch patient (the
 * `patient` claim) and the request's compartment ({@link SmartScopeOptions.patientId}), `user/` scopes
 * for any compartment (your own per-user policy still applies), `system/` scopes for everything.
 *
 * No token: 401 with the bare challenge. Not granted: 403 `insufficient_scope` with
 * `scope="patient/<Type>.<letters>"` when the request has a patient compartment, else
 * `scope="user/<Type>.<letters>"`: the least-privileged v2 scope that would grant it.
 * Without `authenticate()` before it: `ERR_BEARER_CONFIG_MIDDLEWARE_ORDER`.
 *
 * @example app.get('/Observation', requireSmartScope('Observation', 'read'), searchObservations)
 * @see SMART App Launch 2.x §Scopes for requesting clinical data
 * @see RFC 6750 §3.1
 */
export function requireSmartScope(
  resourceType: string,
  interaction: SmartRequestInteraction,
  options?: SmartScopeOptions,
): RequestHandler {
  const required = requiredSmartAccess(CALLER, resourceType, interaction);
  const patientId = patientResolver(options, required.resourceType);
  return function bearerGuardRequireSmartScope(req: Request, _res: Response, next: NextFunction): void {
    let guard: BearerGuard | undefined;
    try {
      guard = guardOf(req, CALLER);
      if (req.auth === undefined) throw guard.missingCredentials();
      requireSmartAccess(req.auth, {
        ...required,
        patientId: patientId(req),
        query: singleValued(req.query),
      });
    } catch (error) {
      // The core raised it outside the guard: the guard gives it the challenge of its own refusals
      // (realm, resource_metadata, the scheme the token came with).
      next(guard === undefined ? error : guard.challengeFor(error, req.auth));
      return;
    }
    next();
  };
}
