import { channel, tracingChannel, type TracingChannel } from 'node:diagnostics_channel';
import type { CircuitState } from './circuit-breaker.js';
import { confirmationMethod } from './confirmation.js';
import { BearerGuardError, type BearerErrorCode } from './errors.js';
import type { IntrospectionFailure } from './introspection-failure.js';
import type { KeySetLoadTrigger } from './jwks-fetch.js';
import type { Principal } from './principal.js';

/**
 * `node:diagnostics_channel` publications, for APM agents and `@bearer-guard/otel`: what the guard
 * decided and what it asked the authorization server, in plain objects (undici's and node-redis's
 * `TracingChannel` shape). Channels are process-wide, so one subscriber sees every guard.
 *
 * Nothing is built while nobody listens: every publisher checks `hasSubscribers` first and the
 * message object only exists behind that check, so the cached path pays one boolean test.
 *
 * No payload ever holds a token, a secret, `sub`, `jti`, any other claim value or an `Error` (whose
 * `cause` may quote a claim): outcomes, coded reasons and values from the configuration only.
 *
 * Tracing channels (`tracing:<name>:start`, `:end`, `:asyncStart`, `:asyncEnd`, `:error`) carry one
 * message object through all of their events; its result fields are filled in before `:end`
 * (synchronous completion) or before `:asyncStart` (asynchronous completion), and `:error` fires
 * before them when the operation failed.
 */

/** How an authentication ended: a principal, a refusal (401/400), or an outage (503). */
export type AuthenticateOutcome = 'accepted' | 'rejected' | 'unavailable';
/** Which cache answered: the guard's own memory, a shared introspection store, or none (validated now). */
export type CacheLevel = 'memory' | 'shared' | 'none';
/** The token's binding: DPoP (`cnf.jkt`), a client certificate (`cnf.x5t#S256`), or none. */
export type TokenBinding = 'dpop' | 'mtls' | 'none';

/** `bearer-guard:authenticate`: one per request with a token (or without one when one is required). */
export interface AuthenticateMessage {
  /** The configured issuer that validated (or was asked about) the token; `undefined` until one is known. */
  issuer: string | undefined;
  /** How the token was validated; `undefined` when it was refused before being routed. */
  source: 'jwt' | 'introspection' | undefined;
  cache: CacheLevel;
  outcome: AuthenticateOutcome | undefined;
  /** The error code of a refusal or an outage (see docs/errors.md). */
  code: BearerErrorCode | undefined;
  /**
   * Set for an accepted token, and for a refusal of the binding itself: `dpop` for a DPoP proof
   * refused (replayed, stale, …) or not recordable (`ERR_BEARER_DPOP_*`), `mtls` for a certificate
   * that does not match, `none` for an unbound token where DPoP is required. Never the thumbprint.
   */
  binding: TokenBinding | undefined;
}

/** `bearer-guard:authorize` (plain channel): one per route-guard decision. */
export interface AuthorizeMessage {
  policy: 'scopes' | 'audience' | 'smart-scope';
  outcome: 'granted' | 'refused';
  /** `ERR_BEARER_INSUFFICIENT_SCOPE`, `ERR_BEARER_TOKEN_MISSING`, …; `undefined` when granted. */
  code: BearerErrorCode | undefined;
}

/** `bearer-guard:keys.load`: one per JWK Set fetch (concurrent needs share one). */
export interface KeysLoadMessage {
  issuer: string;
  /** The `jwks_uri` (configured or discovered); `undefined` when discovery failed first. */
  uri: string | undefined;
  trigger: KeySetLoadTrigger;
  outcome: 'loaded' | 'failed' | undefined;
  keyCount: number | undefined;
  /** Why it failed: a fetch failure (`timeout`, `network`, `status`, …), `discovery` or `invalid`. */
  errorType: string | undefined;
  /** The HTTP status of the JWK Set answer; `undefined` when none arrived. */
  status: number | undefined;
}

/** `bearer-guard:discovery`: one per metadata fetch (RFC 8414, with the OIDC fallback). */
export interface DiscoveryMessage {
  issuer: string;
  /** The metadata URL requested last: RFC 8414's, or OpenID Connect's after a fallback. */
  url: string | undefined;
  outcome: 'loaded' | 'failed' | undefined;
  errorType: string | undefined;
  /** The HTTP status of the last answer; `undefined` when none arrived (a timeout, a refused connection). */
  status: number | undefined;
}

/** `bearer-guard:introspection`: one per call to the introspection endpoint (a cache hit is none). */
export interface IntrospectionMessage {
  issuer: string;
  /** The endpoint (configured or discovered); `undefined` when discovery failed first. */
  endpoint: string | undefined;
  outcome: 'active' | 'inactive' | 'unavailable' | undefined;
  /** The failure reason of an `unavailable` call (`timeout`, `network`, `status`, …, `discovery`). */
  reason: IntrospectionFailure | 'discovery' | undefined;
  /** The HTTP status of the endpoint's answer; `undefined` when none arrived. */
  status: number | undefined;
}

/** `bearer-guard:circuit.state` (plain channel): a circuit breaker changed state. */
export interface CircuitStateMessage {
  /** The breaker's configured name, e.g. `introspection https://as.example.com`. */
  name: string;
  state: CircuitState;
  consecutiveFailures: number;
}

export const CHANNELS = Object.freeze({
  authenticate: 'bearer-guard:authenticate',
  authorize: 'bearer-guard:authorize',
  keysLoad: 'bearer-guard:keys.load',
  discovery: 'bearer-guard:discovery',
  introspection: 'bearer-guard:introspection',
  circuitState: 'bearer-guard:circuit.state',
});

export const authenticateChannel: TracingChannel<AuthenticateMessage> = tracingChannel(CHANNELS.authenticate);
export const authorizeChannel = channel(CHANNELS.authorize);
export const keysLoadChannel: TracingChannel<KeysLoadMessage> = tracingChannel(CHANNELS.keysLoad);
export const discoveryChannel: TracingChannel<DiscoveryMessage> = tracingChannel(CHANNELS.discovery);
export const introspectionChannel: TracingChannel<IntrospectionMessage> = tracingChannel(
  CHANNELS.introspection,
);
export const circuitStateChannel = channel(CHANNELS.circuitState);

/**
 * A URL as a payload gives it: every query value replaced with `REDACTED`. The URLs are the
 * configuration's or the metadata's (never a request's), and the options refuse a user name or
 * password in them, but allow a query, which may carry an API key; a subscriber may log the URL.
 */
export function payloadUrl(url: string): string {
  if (!url.includes('?')) return url;
  const parsed = URL.parse(url);
  if (parsed === null) return url.slice(0, url.indexOf('?'));
  const query = new URLSearchParams();
  for (const name of parsed.searchParams.keys()) query.append(name, 'REDACTED');
  parsed.search = query.toString();
  return parsed.href;
}

/**
 * Run `operation` as one traced operation on `traced`: `start` (with the subscribers' stores bound,
 * so a span started there is the active context inside), `end`, then `error`, `asyncStart` and
 * `asyncEnd` when it settles. `settle` fills the message's result fields first. Call it only
 * behind `traced.hasSubscribers`.
 */
export function tracePromise<M extends object, R>(
  traced: TracingChannel<M>,
  message: M,
  operation: () => Promise<R>,
  settle: (message: M, result: { value: R } | { error: unknown }) => void,
): Promise<R> {
  let promise: Promise<R>;
  try {
    promise = traced.start.runStores(message, operation);
  } catch (error) {
    settle(message, { error });
    traced.error.publish(message);
    traced.end.publish(message);
    throw error;
  }
  traced.end.publish(message);
  return promise.then(
    (value) => {
      settle(message, { value });
      traced.asyncStart.publish(message);
      traced.asyncEnd.publish(message);
      return value;
    },
    (error: unknown) => {
      settle(message, { error });
      traced.error.publish(message);
      traced.asyncStart.publish(message);
      traced.asyncEnd.publish(message);
      throw error;
    },
  );
}

/**
 * The outcome and code of a failed authentication (a 503 is an outage, anything else a refusal),
 * and the binding it concerns when the binding is what failed (see {@link AuthenticateMessage}).
 */
export function failureOf(error: unknown): {
  outcome: AuthenticateOutcome;
  code: BearerErrorCode | undefined;
  binding: TokenBinding | undefined;
} {
  if (error instanceof BearerGuardError) {
    const { code } = error;
    return {
      outcome: error.status === 503 ? 'unavailable' : 'rejected',
      code,
      binding: refusedBinding(code),
    };
  }
  // Not a coded error: a fault of ours, never the caller's.
  return { outcome: 'unavailable', code: undefined, binding: undefined };
}

/**
 * The binding a refusal's code is about. A bound token presented as a bearer token
 * (`ERR_BEARER_TOKEN_SENDER_CONSTRAINED`) names none: its code does not say which binding it has.
 */
function refusedBinding(code: BearerErrorCode): TokenBinding | undefined {
  if (code === 'ERR_BEARER_DPOP_REQUIRED') return 'none';
  if (code.startsWith('ERR_BEARER_DPOP_')) return 'dpop';
  if (code === 'ERR_BEARER_TOKEN_CERTIFICATE_MISMATCH') return 'mtls';
  return undefined;
}

/**
 * The binding of an accepted principal: `principal.confirmation` where the guard checked one (DPoP,
 * mTLS), else what its `cnf` claim declares. Only the method's name, never the thumbprint.
 */
export function bindingOf(principal: Principal): TokenBinding {
  const confirmation = (principal as { readonly confirmation?: unknown }).confirmation;
  let method: unknown = confirmation;
  if (typeof confirmation === 'object' && confirmation !== null) {
    const record = confirmation as Record<string, unknown>;
    method = record['method'] ?? record['kind'] ?? (Object.hasOwn(record, 'jkt') ? 'jkt' : undefined);
    if (method === undefined && Object.hasOwn(record, 'x5t#S256')) method = 'x5t#S256';
  }
  if (method === undefined) {
    try {
      method = confirmationMethod(principal.claims);
    } catch {
      method = undefined;
    }
  }
  if (method === 'jkt' || method === 'dpop') return 'dpop';
  if (method === 'x5t#S256' || method === 'mtls') return 'mtls';
  return 'none';
}

/** Publish one route-guard decision; call behind `authorizeChannel.hasSubscribers`. */
export function publishAuthorization(policy: AuthorizeMessage['policy'], error?: unknown): void {
  const message: AuthorizeMessage =
    error === undefined
      ? { policy, outcome: 'granted', code: undefined }
      : { policy, outcome: 'refused', code: error instanceof BearerGuardError ? error.code : undefined };
  authorizeChannel.publish(message);
}
