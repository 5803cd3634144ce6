/**
 * The client's one error taxonomy. Codes are the contract; messages are not. No error carries a
 * client secret, a private key or an access token: causes from the HTTP layer are redacted first.
 */

/** Why a token could not be obtained. */
export type TokenRequestErrorCode =
  /** The authorization server answered with an RFC 6749 §5.2 error (`error` names it). */
  | 'ERR_TOKEN_CLIENT_TOKEN_ERROR'
  /** The server could not be reached, timed out, or answered 5xx / 429. Retried before surfacing. */
  | 'ERR_TOKEN_CLIENT_UNAVAILABLE'
  /** The answer is not a usable token response (not JSON, no usable `access_token` or `expires_in`, not `Bearer`, a redirect…). */
  | 'ERR_TOKEN_CLIENT_INVALID_RESPONSE';

/** Which exchange failed: metadata discovery (RFC 8414) or the token request (RFC 6749 §4.4). */
export type TokenRequestStep = 'discovery' | 'token';

export interface TokenRequestErrorOptions {
  step: TokenRequestStep;
  /** The URL that was called. Options refuse URLs with credentials, so it holds no secret. */
  endpoint: string | undefined;
  /** The RFC 6749 §5.2 `error` code from the server, e.g. `invalid_client`. */
  error?: string | undefined;
  /** The server's `error_description`, for logs. */
  errorDescription?: string | undefined;
  /** The HTTP status, when a response arrived. */
  status?: number | undefined;
  cause?: unknown;
}

/**
 * A token could not be obtained. `code` says what kind of failure, `error` carries the
 * authorization server's own error code when it sent one.
 *
 * @see RFC 6749 §5.2
 */
export class TokenRequestError extends Error {
  override readonly name = 'TokenRequestError';
  readonly code: TokenRequestErrorCode;
  readonly step: TokenRequestStep;
  readonly endpoint: string | undefined;
  /** The server's RFC 6749 §5.2 `error` value (`invalid_client`, `invalid_scope`, …), if any. */
  readonly error: string | undefined;
  readonly error_description: string | undefined;
  readonly status: number | undefined;

  constructor(code: TokenRequestErrorCode, message: string, options: TokenRequestErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.step = options.step;
    this.endpoint = options.endpoint;
    this.error = options.error;
    this.error_description = options.errorDescription;
    this.status = options.status;
  }

  /** Only outages are worth another attempt; a refused client stays refused. */
  get retryable(): boolean {
    return this.code === 'ERR_TOKEN_CLIENT_UNAVAILABLE';
  }
}

/** Codes of wrong options (at construction) and wrong arguments (per call). */
export type TokenClientConfigurationErrorCode =
  | 'ERR_TOKEN_CLIENT_CONFIG_UNKNOWN_OPTION'
  | 'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION'
  | 'ERR_TOKEN_CLIENT_CONFIG_MISSING_OPTION'
  | 'ERR_TOKEN_CLIENT_CONFIG_CONFLICTING_OPTIONS'
  | 'ERR_TOKEN_CLIENT_INVALID_ARGUMENT';

/**
 * A wrong option or argument. The message names the option and says what to change; it never
 * repeats the value of a secret option. Named apart from core's `ConfigurationError` so that an
 * `instanceof` check against the wrong package's class cannot silently miss.
 */
export class TokenClientConfigurationError extends TypeError {
  override readonly name = 'TokenClientConfigurationError';
  readonly code: TokenClientConfigurationErrorCode;

  constructor(code: TokenClientConfigurationErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Every code this package can raise, for exhaustive `switch`es. */
export type TokenClientErrorCode = TokenRequestErrorCode | TokenClientConfigurationErrorCode;

export function isTokenRequestError(value: unknown): value is TokenRequestError {
  return value instanceof TokenRequestError;
}
