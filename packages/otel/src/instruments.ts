import type { Histogram, Meter, ObservableResult } from '@opentelemetry/api';
import type { CircuitStateFields } from './messages.js';
import { ATTRIBUTES as A, METRICS } from './names.js';
import { Tally } from './tally.js';

/** Durations are in seconds (OpenTelemetry semantic conventions); buckets for a 100 µs cache hit to a 10 s timeout. */
const DURATION_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const CIRCUIT_STATES = ['closed', 'open', 'half-open'] as const;

/**
 * The instruments of one meter. The counters are asynchronous counters over in-process tallies
 * (tally.ts): the same monotonic sums a synchronous counter exports, at the cost of an increment
 * per event. Each tally's names are the attribute order its `add` takes.
 */
export interface Instruments {
  authentications: Tally;
  authenticationDuration: Histogram;
  authorizations: Tally;
  keysLoads: Tally;
  introspectionDuration: Histogram;
  tokenClientRequests: Tally;
}

/** The order of the authentication attributes, as {@link Tally.cell} takes them. */
export const AUTHENTICATION_ATTRIBUTES = [
  A.outcome,
  A.errorType,
  A.tokenSource,
  A.cache,
  A.binding,
  A.issuer,
] as const;

export function createInstruments(
  meter: Meter,
  circuits: ReadonlyMap<string, CircuitStateFields['state']>,
): Instruments {
  const counter = (name: string, description: string, unit: string, names: readonly string[]): Tally => {
    const tally = new Tally(names);
    meter.createObservableCounter(name, { description, unit }).addCallback(tally.observe);
    return tally;
  };
  meter
    .createObservableGauge(METRICS.circuitState, {
      description: 'Circuit breaker state: 1 for the state each breaker is in, 0 for the others.',
    })
    .addCallback((result: ObservableResult) => {
      for (const [name, current] of circuits) {
        for (const state of CIRCUIT_STATES) {
          result.observe(state === current ? 1 : 0, { [A.circuit]: name, [A.circuitState]: state });
        }
      }
    });
  return {
    authentications: counter(
      METRICS.authentications,
      'Authentications of requests with a bearer token, by outcome.',
      '{authentication}',
      AUTHENTICATION_ATTRIBUTES,
    ),
    authenticationDuration: meter.createHistogram(METRICS.authenticationDuration, {
      description: 'Duration of authentications, cache hits included.',
      unit: 's',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    }),
    authorizations: counter(
      METRICS.authorizations,
      'Route-guard decisions (scopes, audience, SMART scopes).',
      '{decision}',
      [A.outcome, A.errorType, A.policy],
    ),
    keysLoads: counter(METRICS.keysLoads, 'JWK Set fetches, by trigger and outcome.', '{load}', [
      A.outcome,
      A.errorType,
      A.trigger,
      A.issuer,
    ]),
    introspectionDuration: meter.createHistogram(METRICS.introspectionDuration, {
      description: 'Duration of calls to the introspection endpoint (RFC 7662).',
      unit: 's',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    }),
    tokenClientRequests: counter(
      METRICS.tokenClientRequests,
      'Token requests of @bearer-guard/client (each retry counts).',
      '{request}',
      [A.outcome, A.errorType, A.issuer],
    ),
  };
}
