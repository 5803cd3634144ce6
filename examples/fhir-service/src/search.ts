import type { Request } from 'express';
import {
  observationPatient,
  type Coding,
  type Observation,
  type Patient,
  type Resource,
} from './fhir-data.js';
import type { IssueType } from './operation-outcome.js';

/** FHIR R4 `id`: 1 to 64 of `[A-Za-z0-9\-.]`. */
const FHIR_ID = /^[A-Za-z0-9.-]{1,64}$/;

/** A search the server cannot run, answered 400 with an OperationOutcome. */
export class SearchError extends Error {
  override readonly name = 'SearchError';
  constructor(
    readonly code: IssueType,
    message: string,
  ) {
    super(message);
  }
}

/** A single FHIR id, or `undefined` for anything else (lists, URLs, repeated parameters). */
export function fhirId(value: unknown): string | undefined {
  return typeof value === 'string' && FHIR_ID.test(value) ? value : undefined;
}

/**
 * The request's search parameters as single strings. Every name must be known: an unknown one (a
 * modifier such as `category:not`, `_include`, a typo) would otherwise be ignored and return more than
 * the client asked for, and than a search-constrained SMART scope allows. `_format` is accepted and
 * ignored: this server only speaks JSON.
 */
function searchParameters(req: Request, known: readonly string[]): Map<string, string> {
  const parameters = new Map<string, string>();
  for (const [name, value] of Object.entries(req.query)) {
    if (name === '_format') continue;
    if (!known.includes(name)) {
      throw new SearchError(
        'not-supported',
        `Unknown search parameter ${name}; supported: ${known.join(', ')}.`,
      );
    }
    if (typeof value !== 'string' || value === '') {
      throw new SearchError('invalid', `The search parameter ${name} must be given once, with a value.`);
    }
    parameters.set(name, value);
  }
  return parameters;
}

function reference(name: string, value: string, bareAllowed: boolean): string {
  const id = value.startsWith('Patient/')
    ? fhirId(value.slice('Patient/'.length))
    : bareAllowed
      ? fhirId(value)
      : undefined;
  if (id === undefined) {
    throw new SearchError(
      'invalid',
      `The search parameter ${name} must be ${bareAllowed ? '<id> or ' : ''}Patient/<id>.`,
    );
  }
  return id;
}

/** Token search (`[system]|code` or `code`) against a CodeableConcept's codings. */
function tokenMatches(codings: readonly Coding[], token: string): boolean {
  const bar = token.indexOf('|');
  if (bar === -1) return codings.some((coding) => coding.code === token);
  const system = token.slice(0, bar);
  const code = token.slice(bar + 1);
  return codings.some((coding) => coding.system === system && coding.code === code);
}

/**
 * Filter Observations by `patient` (`123` or `Patient/123`), `subject` (`Patient/123`), `category` and
 * `code` (tokens). Several parameters must all match. Throws a {@link SearchError} for anything else.
 */
export function searchObservations(req: Request, all: readonly Observation[]): Observation[] {
  const parameters = searchParameters(req, ['patient', 'subject', 'category', 'code']);
  const patient = parameters.get('patient');
  const subject = parameters.get('subject');
  const category = parameters.get('category');
  const code = parameters.get('code');
  const patients = [
    ...(patient === undefined ? [] : [reference('patient', patient, true)]),
    ...(subject === undefined ? [] : [reference('subject', subject, false)]),
  ];
  return all.filter(
    (resource) =>
      patients.every((id) => observationPatient(resource) === id) &&
      (category === undefined ||
        tokenMatches(
          resource.category.flatMap((entry) => entry.coding),
          category,
        )) &&
      (code === undefined || tokenMatches(resource.code.coding, code)),
  );
}

/** Filter Patients by `_id` (one id). Throws a {@link SearchError} for anything else. */
export function searchPatients(req: Request, all: readonly Patient[]): Patient[] {
  const id = searchParameters(req, ['_id']).get('_id');
  if (id === undefined) return [...all];
  if (fhirId(id) === undefined) throw new SearchError('invalid', 'The search parameter _id must be one id.');
  return all.filter((resource) => resource.id === id);
}

/** A `searchset` Bundle of `resources`, with `fullUrl`s and the `self` link under `baseUrl`. */
export function searchsetBundle(
  baseUrl: string,
  req: Request,
  resources: readonly Resource[],
): Record<string, unknown> {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: resources.length,
    link: [{ relation: 'self', url: `${baseUrl}${req.originalUrl}` }],
    entry: resources.map((resource) => ({
      fullUrl: `${baseUrl}/${resource.resourceType}/${resource.id}`,
      resource,
      search: { mode: 'match' },
    })),
  };
}
