import { bearerChallenge } from './www-authenticate.js';

/**
 * Every request-time failure, by stable code. Codes are the contract; messages are not.
 * Each code has a heading in `docs/errors.md`.
 */
export const ERROR_TABLE = {
  // RFC 6750 §3.1: a request without credentials gets a bare challenge and no error code. The
  // JSON body is ours, not the RFC's: `toJSON()` says `unauthorized` there (see below).
  ERR_BEARER_TOKEN_MISSING: { status: 401, error: undefined, description: undefined },
  ERR_BEARER_HEADER_MALFORMED: {
    status: 400,
    error: 'invalid_request',
    description: 'The Authorization header is not a valid Bearer credential.',
  },
  ERR_BEARER_MULTIPLE_METHODS: {
    status: 400,
    error: 'invalid_request',
    description: 'The access token was sent by more than one method.',
  },
  ERR_BEARER_TOKEN_MALFORMED: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token is malformed.',
  },
  ERR_BEARER_TOKEN_SIGNATURE_INVALID: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token signature is invalid.',
  },
  ERR_BEARER_TOKEN_ALGORITHM_REJECTED: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token is signed with an algorithm that is not accepted.',
  },
  ERR_BEARER_TOKEN_KEY_UNKNOWN: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token is signed with an unknown key.',
  },
  ERR_BEARER_TOKEN_EXPIRED: { status: 401, error: 'invalid_token', description: 'The access token expired.' },
  ERR_BEARER_TOKEN_NOT_YET_VALID: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token is not valid yet.',
  },
  ERR_BEARER_TOKEN_TOO_OLD: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token is too old.',
  },
  ERR_BEARER_TOKEN_ISSUER_INVALID: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token was not issued by a trusted issuer.',
  },
  ERR_BEARER_TOKEN_AUDIENCE_INVALID: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token is not meant for this resource.',
  },
  ERR_BEARER_TOKEN_TYPE_INVALID: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token has an unexpected type.',
  },
  ERR_BEARER_TOKEN_CLAIM_INVALID: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token has a missing or invalid claim.',
  },
  ERR_BEARER_TOKEN_SENDER_CONSTRAINED: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token is bound to a key and cannot be used as a bearer token.',
  },
  ERR_BEARER_TOKEN_INACTIVE: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token is not active.',
  },
  ERR_BEARER_INSUFFICIENT_SCOPE: {
    status: 403,
    error: 'insufficient_scope',
    description: 'The access token does not carry the scope this resource requires.',
  },
  // 503 for every upstream failure: the token may well be good, so 401 would make clients throw it away.
  ERR_BEARER_JWKS_UNAVAILABLE: {
    status: 503,
    error: 'temporarily_unavailable',
    description: 'The keys needed to validate the access token cannot be retrieved. Try again later.',
  },
  ERR_BEARER_DISCOVERY_UNAVAILABLE: {
    status: 503,
    error: 'temporarily_unavailable',
    description: 'The authorization server metadata cannot be retrieved. Try again later.',
  },
  ERR_BEARER_INTROSPECTION_UNAVAILABLE: {
    status: 503,
    error: 'temporarily_unavailable',
    description: 'The access token cannot be validated at the moment. Try again later.',
  },
} as const satisfies Record<
  string,
  { status: number; error: string | undefined; description: string | undefined }
>;

/** The stable code of a request-time error. */
export type BearerErrorCode = keyof typeof ERROR_TABLE;

/** RFC 6750 §3.1 error codes, plus `temporarily_unavailable` (RFC 6749 §4.1.2.1) for 503 answers. */
export type BearerErrorName =
  'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'temporarily_unavailable';

export interface BearerGuardErrorOptions {
  /** The internal reason. Never sent to the client; logs only. */
  cause?: unknown;
  /** For `insufficient_scope`: the scope the resource requires (RFC 6750 §3). */
  scope?: string | undefined;
  /** For 503: seconds the client should wait (RFC 9110 §10.2.3). */
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
    this.expose = entry.status < 500;
  }

  get statusCode(): number {
    return this.status;
  }

  /** Response headers: the RFC 6750 challenge, and `Retry-After` for 503. */
  get headers(): Record<string, string> {
    if (this.status === 503) {
      // A 503 is not an authentication challenge (RFC 9110 §11.6.1 ties WWW-Authenticate to 401),
      // so it carries only the retry hint.
      return { 'Retry-After': String(this.retryAfter ?? 5) };
    }
    return {
      'WWW-Authenticate': bearerChallenge({
        realm: this.realm,
        error: this.error,
        error_description: this.error_description,
        scope: this.scope,
        resource_metadata: this.resourceMetadata,
      }),
    };
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
