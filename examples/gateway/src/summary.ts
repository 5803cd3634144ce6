import type { BackendService, CallOutcome, UnavailableReason } from './backend-call.js';
import {
  toObservations,
  toOrders,
  toPatientSummary,
  type ObservationSummary,
  type PatientSummary,
} from './fhir-summary.js';

/** One backend that could not contribute. `status` is its HTTP status, when it answered at all. */
export interface UnavailableBackend {
  service: BackendService;
  status?: number;
  reason: UnavailableReason;
}

/**
 * `GET /patients/:id/summary`. A part a backend could not deliver is `null` (never `[]`, which
 * would read as "no orders"), and `partial` is `true` with that backend in `unavailable`.
 */
export interface PatientSummaryBody {
  patient: PatientSummary | null;
  observations: ObservationSummary[] | null;
  orders: unknown[] | null;
  partial: boolean;
  unavailable: UnavailableBackend[];
}

export interface ErrorBody {
  error: 'not_found' | 'temporarily_unavailable';
  error_description: string;
}

export type SummaryResult =
  | { status: 200; body: PatientSummaryBody }
  | { status: 404 | 503; body: ErrorBody; unavailable: UnavailableBackend[] };

/** The three calls behind a summary, made in parallel. */
export interface SummaryOutcomes {
  orders: CallOutcome;
  patient: CallOutcome;
  observations: CallOutcome;
}

type Part<T> = { value: T } | { failure: UnavailableBackend };

function part<T>(
  service: BackendService,
  outcome: CallOutcome,
  shape: (body: unknown) => T | undefined,
): Part<T> {
  if (outcome.kind === 'ok') {
    const value = shape(outcome.body);
    return value === undefined ? { failure: { service, reason: 'error' } } : { value };
  }
  if (outcome.kind === 'not_found') return { failure: { service, status: 404, reason: 'error' } };
  const failure: UnavailableBackend = { service, reason: outcome.reason };
  if (outcome.status !== undefined) failure.status = outcome.status;
  return { failure };
}

const valueOf = <T>(entry: Part<T>): T | null => ('value' in entry ? entry.value : null);

/**
 * The degradation rules (examples/gateway/README.md, "When a backend fails"):
 * 1. any backend answers 404 for the patient → 404;
 * 2. both backends failed (FHIR counts as failed when either of its calls did) → 503;
 * 3. one backend failed → 200 with what the others delivered, `partial: true` and an `unavailable` entry;
 * 4. otherwise → 200 with everything, `partial: false`.
 */
export function mergeSummary(id: string, outcomes: SummaryOutcomes): SummaryResult {
  const parts = {
    orders: part('orders', outcomes.orders, toOrders),
    patient: part('fhir', outcomes.patient, (body) => toPatientSummary(body, id)),
    observations: part('fhir', outcomes.observations, toObservations),
  };
  const failures = [parts.orders, parts.patient, parts.observations].flatMap((entry) =>
    'failure' in entry ? [entry.failure] : [],
  );
  // One entry per backend: the first failure seen (the Patient read before the Observation search).
  const unavailable = failures.filter(
    (failure, index) => failures.findIndex((other) => other.service === failure.service) === index,
  );
  if (
    [outcomes.orders, outcomes.patient, outcomes.observations].some((outcome) => outcome.kind === 'not_found')
  ) {
    return {
      status: 404,
      body: { error: 'not_found', error_description: 'No patient with this id.' },
      unavailable,
    };
  }
  if (unavailable.length === 2) {
    return {
      status: 503,
      body: {
        error: 'temporarily_unavailable',
        error_description: 'The services behind this summary are unavailable; retry later.',
      },
      unavailable,
    };
  }
  return {
    status: 200,
    body: {
      patient: valueOf(parts.patient),
      observations: valueOf(parts.observations),
      orders: valueOf(parts.orders),
      partial: unavailable.length > 0,
      unavailable,
    },
  };
}
