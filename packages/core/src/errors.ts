import { authChallenge, bearerChallenge } from './www-authenticate.js';

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
  ERR_BEARER_TOKEN_CERTIFICATE_MISMATCH: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token is bound to a client certificate that was not presented.',
  },
  ERR_BEARER_DPOP_REQUIRED: {
    status: 401,
    error: 'invalid_token',
    description: 'This resource requires a DPoP-bound access token.',
  },
  ERR_BEARER_DPOP_BINDING_MISMATCH: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token is not bound to the key of the DPoP proof.',
  },
  ERR_BEARER_DPOP_PROOF_MISSING: {
    status: 401,
    error: 'invalid_dpop_proof',
    description: 'The request has no DPoP proof.',
  },
  ERR_BEARER_DPOP_PROOF_MALFORMED: {
    status: 401,
    error: 'invalid_dpop_proof',
    description: 'The DPoP proof is malformed.',
  },
  ERR_BEARER_DPOP_PROOF_SIGNATURE_INVALID: {
    status: 401,
    error: 'invalid_dpop_proof',
    description: 'The DPoP proof signature is invalid.',
  },
  ERR_BEARER_DPOP_PROOF_MISMATCH: {
    status: 401,
    error: 'invalid_dpop_proof',
    description: 'The DPoP proof does not match this request.',
  },
  ERR_BEARER_DPOP_PROOF_STALE: {
    status: 401,
    error: 'invalid_dpop_proof',
    description: 'The DPoP proof was not created recently enough.',
  },
  ERR_BEARER_DPOP_PROOF_REPLAYED: {
    status: 401,
    error: 'invalid_dpop_proof',
    description: 'The DPoP proof was already used.',
  },
  // RFC 9449 §9: the exact shape of its example, which clients (oauth4webapi) retry on.
  ERR_BEARER_DPOP_NONCE_REQUIRED: {
    status: 401,
    error: 'use_dpop_nonce',
    description: 'Resource server requires nonce in DPoP proof',
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
  // Fail closed: a proof that cannot be recorded could be replayed, so it is not accepted.
  ERR_BEARER_DPOP_REPLAY_STORE_UNAVAILABLE: {
    status: 503,
    error: 'temporarily_unavailable',
    description: 'The DPoP proof cannot be checked at the moment. Try again later.',
  },
} as const satisfies Record<
  string,
  { status: number; error: string | undefined; description: string | undefined }
>;

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
    if (this.status === 503) {
      // A 503 is not an authentication challenge (RFC 9110 §11.6.1 ties WWW-Authenticate to 401),
      // so it carries only the retry hint.
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
