import { ERROR_TABLE } from './error-table.js';
import { authChallenge, bearerChallenge } from './www-authenticate.js';

export { ERROR_TABLE };

/** The stable code of a request-time error. */
export type BearerErrorCode = keyof typeof ERROR_TABLE;

/** RFC 6750 §3.1 error codes, plus `temporarily_unavailable` (RFC 6749 §4.1.2.1) for 503 answers. */
export type BearerErrorName =
  | 'invalid_request'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'temporarily_unavailable'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce';

/**
 * How the guard's challenges look: set by the guard on every error it raises. With DPoP on, a
 * `DPoP algs="…"` challenge joins the `Bearer` one (RFC 9449 §7.1), and the error goes on the
 * scheme the request used.
 */
export interface ChallengeSettings {
  /** The scheme the request used: `'dpop'` for `Authorization: DPoP`. */
  scheme: 'bearer' | 'dpop';
  /** The accepted DPoP proof algorithms, or `undefined` when DPoP is off. */
  dpopAlgorithms: readonly string[] | undefined;
  /** `dpop.required`: the `Bearer` challenge is not offered for a request without credentials. */
  dpopRequired: boolean;
  /** For `use_dpop_nonce`: the nonce the client must use (`DPoP-Nonce`). */
  dpopNonce: string | undefined;
}

export interface BearerGuardErrorOptions {
  /** The internal reason. Never sent to the client; logs only. */
  cause?: unknown;
  /** For `insufficient_scope`: the scope the resource requires (RFC 6750 §3). */
  scope?: string | undefined;
  /** For 503 and 429: seconds the client should wait (RFC 9110 §10.2.3). */
  retryAfter?: number | undefined;
}

/**
 * Base of every request-time error. It speaks RFC 6750 and Express at once: `status`/`statusCode`
 * and `headers` are honoured by Express's final handler, `error` and `error_description` are the
 * client-safe wire values, and `cause` keeps the internal reason.
 */
export class BearerGuardError extends Error {
  override readonly name: string = 'BearerGuardError';
  readonly code: BearerErrorCode;
  readonly status: number;
  /** The RFC 6750 `error` value; `undefined` for a missing token (RFC 6750 §3.1). */
  readonly error: BearerErrorName | undefined;
  /** A fixed, client-safe sentence for this code. */
  readonly error_description: string | undefined;
  /** The scope the resource requires, for `insufficient_scope`. */
  readonly scope: string | undefined;
  /** Seconds before a retry may succeed, for 503 answers. */
  readonly retryAfter: number | undefined;
  /** The `realm` of the challenge; set by the guard that raised the error. */
  realm: string | undefined;
  /** RFC 9728 §5.1 `resource_metadata`, when the guard is configured with it. */
  resourceMetadata: string | undefined;
  /** DPoP challenge settings; set by the guard that raised the error. */
  challenge: ChallengeSettings | undefined;
  /** Express convention: only 4xx details are fit for the client. */
  readonly expose: boolean;

  constructor(code: BearerErrorCode, options: BearerGuardErrorOptions = {}) {
    const entry = ERROR_TABLE[code];
    super(entry.description ?? 'No bearer token was presented.', { cause: options.cause });
    this.code = code;
    this.status = entry.status;
    this.error = entry.error;
    this.error_description = entry.description;
    this.scope = options.scope;
    this.retryAfter = options.retryAfter;
    this.realm = undefined;
    this.resourceMetadata = undefined;
    this.challenge = undefined;
    this.expose = entry.status < 500;
  }

  get statusCode(): number {
    return this.status;
  }

  /** Response headers: the RFC 6750 challenge, and `Retry-After` for 503. */
  get headers(): Record<string, string> {
    if (this.status === 503 || this.status === 429) {
      // A 503 (or 429) is not an authentication challenge (RFC 9110 §11.6.1 ties WWW-Authenticate
      // to 401), so it carries only the retry hint (RFC 6585 §4 for 429).
      return { 'Retry-After': String(this.retryAfter ?? 5) };
    }
    const challenge = this.challenge;
    const bearer = {
      realm: this.realm,
      error: this.error,
      error_description: this.error_description,
      scope: this.scope,
      resource_metadata: this.resourceMetadata,
    };
    if (challenge?.dpopAlgorithms === undefined) return { 'WWW-Authenticate': bearerChallenge(bearer) };
    if (this.code === 'ERR_BEARER_DPOP_NONCE_REQUIRED') {
      // RFC 9449 §9: exactly one challenge, so that clients recognise it (oauth4webapi counts them),
      // and the nonce; a response carrying a nonce must not be cached (§8.2, §9).
      return {
        'WWW-Authenticate': authChallenge('DPoP', {
          error: this.error,
          error_description: this.error_description,
          resource_metadata: this.resourceMetadata,
        }),
        ...(challenge.dpopNonce === undefined ? {} : { 'DPoP-Nonce': challenge.dpopNonce }),
        'Cache-Control': 'no-store',
      };
    }
    const onDpop = challenge.scheme === 'dpop';
    // The shape of RFC 9449 §7.1's examples: `DPoP algs="…"`, or the error first, then `algs`.
    const dpop = authChallenge('DPoP', {
      ...(onDpop ? { error: this.error, error_description: this.error_description, scope: this.scope } : {}),
      algs: challenge.dpopAlgorithms.join(' '),
      resource_metadata: this.resourceMetadata,
    });
    // RFC 9449 §7.1: without credentials both schemes are offered with no error code; otherwise the
    // error goes on the scheme used. `required` offers no Bearer scheme to a request that used none.
    const offerBearer = !onDpop && !(challenge.dpopRequired && this.code === 'ERR_BEARER_TOKEN_MISSING');
    return { 'WWW-Authenticate': offerBearer ? `${bearerChallenge(bearer)}, ${dpop}` : dpop };
  }

  /**
   * The JSON body an API returns: `{ error, error_description }` (RFC 6750 §3 names). For a missing
   * token, which has no RFC 6750 code, the body is `{ "error": "unauthorized" }`: the challenge stays
   * bare (§3.1), and every body still has an `error` a client can branch on.
   */
  toJSON(): { error: string; error_description?: string } {
    const body: { error: string; error_description?: string } = { error: this.error ?? 'unauthorized' };
    if (this.error_description !== undefined) body.error_description = this.error_description;
    return body;
  }
}

/** What the guard answering a request writes on its error: see {@link challenged}. */
export interface ChallengeContext {
  realm: string | undefined;
  resourceMetadata: string | undefined;
  challenge: ChallengeSettings;
}

/**
 * `error` carrying the challenge of the request it answers. An error that already carries one is
 * copied (same class, code, message, `cause` and stack), never rewritten: concurrent requests
 * that share one call (coalesced introspection, a discovery in flight) reject with the same
 * object, and rewriting it would give every one of them the scheme of whichever came last, a
 * `DPoP` request answered on `Bearer` or the other way round (RFC 9449 §7.1).
 */
export function challenged(error: BearerGuardError, context: ChallengeContext): BearerGuardError {
  const own =
    error.challenge === undefined
      ? error
      : (Object.create(
          Object.getPrototypeOf(error) as object,
          Object.getOwnPropertyDescriptors(error),
        ) as BearerGuardError);
  own.realm = context.realm;
  own.resourceMetadata = context.resourceMetadata;
  own.challenge = context.challenge;
  return own;
}

/**
 * Codes of configuration errors. Raised when the middleware is built or by `ready()`, except
 * `ERR_BEARER_CONFIG_MIDDLEWARE_ORDER`: a route guard without `authenticate()` before it can only
 * tell on a request, which it answers 500.
 */
export type ConfigurationErrorCode =
  | 'ERR_BEARER_CONFIG_UNKNOWN_OPTION'
  | 'ERR_BEARER_CONFIG_INVALID_OPTION'
  | 'ERR_BEARER_CONFIG_MISSING_OPTION'
  | 'ERR_BEARER_CONFIG_CONFLICTING_OPTIONS'
  | 'ERR_BEARER_CONFIG_MIDDLEWARE_ORDER'
  | 'ERR_BEARER_CONFIG_ISSUER_UNUSABLE';

/**
 * A wrong option or a wrong use of the API. Its message names the option and says what to change.
 * It has `status` 500 so that, when it reaches an error handler (as `ERR_BEARER_CONFIG_MIDDLEWARE_ORDER`
 * does), it is not mistaken for a client error.
 */
export class ConfigurationError extends TypeError {
  override readonly name = 'ConfigurationError';
  readonly code: ConfigurationErrorCode;
  readonly status = 500;
  readonly expose = false;

  constructor(code: ConfigurationErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  get statusCode(): number {
    return this.status;
  }
}

/** Every code this package can raise, for exhaustive `switch`es. */
export type AnyBearerGuardErrorCode = BearerErrorCode | ConfigurationErrorCode;

export function isBearerGuardError(value: unknown): value is BearerGuardError {
  return value instanceof BearerGuardError;
}
