/**
 * The metric and attribute names this instrumentation records, in the OpenTelemetry naming rules
 * (a `bearer_guard.` namespace; `error.type`, `server.address` and the HTTP attributes from the
 * semantic conventions). Each attribute has a value set bounded by the configuration: no token,
 * `sub`, `jti`, scope or other claim value is ever an attribute.
 */
export const METRICS = Object.freeze({
  /** Counter: every authentication (one per request with a token). */
  authentications: 'bearer_guard.authentications',
  /** Histogram (s): how long an authentication took, cache hits included. */
  authenticationDuration: 'bearer_guard.authentication.duration',
  /** Counter: every route-guard decision. */
  authorizations: 'bearer_guard.authorizations',
  /** Counter: every JWK Set fetch. */
  keysLoads: 'bearer_guard.keys.loads',
  /** Histogram (s): every call to an introspection endpoint. */
  introspectionDuration: 'bearer_guard.introspection.duration',
  /** Gauge: 1 for the state each circuit breaker is in, 0 for the others. */
  circuitState: 'bearer_guard.circuit.state',
  /** Counter: every token request of `@bearer-guard/client` (each retry counts). */
  tokenClientRequests: 'bearer_guard.token_client.requests',
});

export const ATTRIBUTES = Object.freeze({
  /** `accepted` / `rejected` / `unavailable`; `granted` / `refused`; `loaded` / `failed`; `active` / `inactive` / `unavailable`; `issued` / `failed`. */
  outcome: 'bearer_guard.outcome',
  /** The error code (`ERR_BEARER_TOKEN_EXPIRED`, …) or failure reason (`timeout`, `status`, …). */
  errorType: 'error.type',
  /** `jwt` / `introspection`. */
  tokenSource: 'bearer_guard.token.source',
  /** `memory` / `shared` / `none`. */
  cache: 'bearer_guard.cache',
  /** `dpop` / `mtls` / `none`. */
  binding: 'bearer_guard.binding',
  /** The configured issuer (never read from a token). */
  issuer: 'bearer_guard.issuer',
  /** `scopes` / `audience` / `smart-scope`. */
  policy: 'bearer_guard.policy',
  /** What caused a key load: `initial` / `expired` / `unknown-kid` / `ready`. */
  trigger: 'bearer_guard.trigger',
  /** The breaker's name, e.g. `introspection https://as.example.com`. */
  circuit: 'bearer_guard.circuit',
  /** `closed` / `open` / `half-open`. */
  circuitState: 'bearer_guard.circuit.state',
  /** On spans: `keys.load` / `discovery` / `introspection` / `token_request`. */
  operation: 'bearer_guard.operation',
});

/** The channels of `@bearer-guard/core` and `@bearer-guard/client` (see their READMEs). */
export const CHANNEL_NAMES = Object.freeze({
  authenticate: 'bearer-guard:authenticate',
  authorize: 'bearer-guard:authorize',
  keysLoad: 'bearer-guard:keys.load',
  discovery: 'bearer-guard:discovery',
  introspection: 'bearer-guard:introspection',
  circuitState: 'bearer-guard:circuit.state',
  tokenRequest: 'bearer-guard:token-client.request',
});
