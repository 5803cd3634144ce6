import * as oauth from 'oauth4webapi';
import { BearerGuardError } from './errors.js';
import { UpstreamError } from './internal/fetch-json.js';

/** Why an introspection call failed (the `introspection.failed` event's `reason`). */
export type IntrospectionFailure =
  | 'timeout'
  | 'network'
  | 'status'
  | 'too-large'
  | 'invalid-response'
  | 'client-authentication'
  | 'signature'
  | 'refused';

/**
 * What an introspection call that did not yield a response body means:
 * - `inactive`: the server answered about the presented token (a 401 for that token, and a
 *   success for the circuit breaker: the server is up);
 * - a failure (503), with `counts` telling whether the circuit breaker counts it;
 * - `undefined`: not the endpoint's doing (discovery already answered with its own error).
 */
export type IntrospectionOutcome = 'inactive' | { reason: IntrospectionFailure; counts: boolean } | undefined;

/**
 * Error codes an authorization server uses for the presented token itself rather than for our
 * request: RFC 7662 §2.2 says such a token is answered `"active": false`, and some servers answer
 * an error instead (node-oidc-provider: 400 `unsupported_token_type` for a JWT-shaped token).
 *
 * `invalid_request` is deliberately not one of them: RFC 6749 §5.2 uses it for flaws of *our*
 * request (a missing or repeated parameter, two client authentication methods, a wrong content
 * type), a fault of configuration that must surface as a 503 and an event rather than as 401s that
 * make clients throw away good tokens. As the token is the one part of the request a caller
 * controls, it is a `refused` failure that the breaker does not count.
 */
const TOKEN_ERRORS: ReadonlySet<string> = new Set(['invalid_token', 'unsupported_token_type']);

const failure = (reason: IntrospectionFailure, counts = true): IntrospectionOutcome => ({ reason, counts });

/**
 * An answer with this status and no usable body. Only what a caller cannot cause by the token it
 * presents counts towards the breaker: 5xx and 429 (the server is in trouble), 401 (our own
 * credentials). Any other 4xx may be about the token, so it fails this request only.
 */
function byStatus(status: number): IntrospectionOutcome {
  if (status === 401) return failure('client-authentication');
  if (status >= 400 && status < 500 && status !== 429) return failure('refused', false);
  return failure('status');
}

/** Classify the error of an introspection call (see {@link IntrospectionOutcome}). */
export function classifyIntrospectionError(error: unknown): IntrospectionOutcome {
  if (error instanceof BearerGuardError) return undefined;
  if (error instanceof UpstreamError) {
    if (error.reason === 'timeout' || error.reason === 'network' || error.reason === 'too-large')
      return failure(error.reason);
    return failure(error.reason === 'content-type' ? 'invalid-response' : 'status');
  }
  if (error instanceof SignatureError) return failure('signature');
  // A Basic/Bearer challenge: the server refused *our* credentials (RFC 7662 §2.3).
  if (error instanceof oauth.WWWAuthenticateChallengeError) return failure('client-authentication');
  if (error instanceof oauth.ResponseBodyError) {
    // RFC 7662 §2.3: a 401 (whatever its `error`, `invalid_token` included) is about our credentials.
    if (error.error === 'invalid_client' || error.status === 401) return failure('client-authentication');
    if (error.status !== 429 && TOKEN_ERRORS.has(error.error)) return 'inactive';
    return byStatus(error.status);
  }
  // A non-200 answer without an OAuth error body (oauth4webapi gives the Response as the cause).
  if (
    error instanceof oauth.OperationProcessingError &&
    (error.code === oauth.RESPONSE_IS_NOT_CONFORM || error.code === oauth.RESPONSE_IS_NOT_JSON) &&
    error.cause instanceof Response &&
    error.cause.status !== 200
  ) {
    return byStatus(error.cause.status);
  }
  return failure('invalid-response');
}

/** The RFC 9701 JWT response's signature does not verify with the issuer's keys. */
export class SignatureError extends Error {
  override readonly name = 'SignatureError';
}
