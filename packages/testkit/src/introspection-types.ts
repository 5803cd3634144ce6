/**
 * Public types of the stub's RFC 7662 token introspection endpoint.
 *
 * @packageDocumentation
 */

/**
 * Client authentication methods accepted at the introspection endpoint (RFC 7662 §2.1):
 * `client_secret_basic` and `client_secret_post` (RFC 6749 §2.3.1), `private_key_jwt` (RFC 7523,
 * OpenID Connect Core §9).
 */
export type IntrospectionAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

/**
 * How an introspection request tried to authenticate the client: one of the
 * {@link IntrospectionAuthMethod | supported methods}, `'none'` (no credentials), `'multiple'`
 * (more than one method, forbidden by RFC 6749 §2.3) or `'unsupported'` (an `Authorization`
 * scheme other than `Basic`, or a `client_assertion_type` other than the RFC 7523 JWT bearer type).
 */
export type IntrospectionAuthAttempt = IntrospectionAuthMethod | 'none' | 'multiple' | 'unsupported';

/** Credentials of a client registered at the stub's introspection endpoint. */
export interface IntrospectionClient {
  readonly clientId: string;
  readonly clientSecret: string;
}

/** A JWK Set: `{ keys: [...] }` of public JWKs. */
export interface JsonWebKeySet {
  keys: Record<string, unknown>[];
}

/** Options of {@link StubIntrospection.registerClient}. At least one of `clientSecret` and `jwks` is required. */
export interface RegisterClientOptions {
  /** The client identifier; must not be registered yet. */
  clientId: string;
  /** Secret for `client_secret_basic` and `client_secret_post`. Without it, those methods fail. */
  clientSecret?: string;
  /**
   * The client's public JWK Set for `private_key_jwt`. Client assertions are verified against it
   * with jose `jwtVerify` (any algorithm of a matching key). Without it, `private_key_jwt` fails.
   */
  jwks?: JsonWebKeySet;
}

/** Options of {@link StubIntrospection.issueOpaqueToken}. */
export interface IssueOpaqueTokenOptions {
  /**
   * `exp` as seconds from now (negative for an already expired token); `null` omits `exp` (the
   * token never expires). An `exp` given in the claims wins.
   * @defaultValue `300`
   */
  expiresIn?: number | null;
}

/** What the stub saw in the last request to its introspection endpoint. */
export interface IntrospectionRequestRecord {
  /** The `token` form parameter, if sent (exactly once). */
  readonly token: string | undefined;
  /** The `token_type_hint` form parameter, e.g. `'access_token'`, if sent. */
  readonly tokenTypeHint: string | undefined;
  /**
   * The client the request claimed to be, before verification: the Basic user name, else the
   * `client_id` parameter, else the `iss` of the client assertion.
   */
  readonly clientId: string | undefined;
  /** The client authentication method the request used (not whether it succeeded). */
  readonly authMethod: IntrospectionAuthAttempt;
  /** The `Accept` request header, if any. */
  readonly accept: string | undefined;
  /** The `Content-Type` request header, if any. */
  readonly contentType: string | undefined;
}

/**
 * The RFC 7662 token introspection endpoint of the stub, at `origin + '/introspect'` (advertised as
 * `introspection_endpoint` in both metadata documents).
 *
 * Requests: `POST`, `application/x-www-form-urlencoded`, `token` required (else 400
 * `invalid_request`), `token_type_hint` optional (recorded, otherwise ignored). The client must
 * authenticate with a {@link IntrospectionAuthMethod | supported method} as a registered client,
 * else 401 `{"error":"invalid_client"}` (with `WWW-Authenticate: Basic realm="testkit"` unless a
 * `client_secret_post` or `private_key_jwt` attempt failed).
 *
 * Answers (RFC 7662 §2.2): `application/json` `{"active":true, ...claims}` for a live token issued by
 * {@link StubIntrospection.issueOpaqueToken} or a JWT signed by one of the stub's keys
 * (`stub.sign()`), `{"active":false}` for unknown, revoked, expired or
 * not-yet-valid tokens. If `Accept` lists `application/token-introspection+jwt` (RFC 9701), the
 * answer is instead a JWT of that content type signed by the default signing key, with header
 * `typ: 'token-introspection+jwt'` and claims `iss` (issuer), `aud` (client id), `iat` and
 * `token_introspection` (the JSON answer).
 *
 * Every request is counted in `counters.introspection`; rejected client authentications also in
 * `counters.introspectionAuthFailures`. `setBehaviour('introspection', …)` applies all modes; when
 * the mode is not `ok` (or `slow`), requests are recorded but neither authenticated nor answered normally.
 */
export interface StubIntrospection {
  /** URL of the introspection endpoint: `origin + '/introspect'`. */
  readonly introspectionEndpoint: string;
  /**
   * The default registered client: `{ clientId: 'resource-server', clientSecret: 'resource-server-secret' }`.
   * It may use `client_secret_basic` or `client_secret_post`.
   */
  readonly introspectionClient: IntrospectionClient;
  /** The last request received at the introspection endpoint (any behaviour), or `undefined` before the first. */
  readonly lastIntrospectionRequest: IntrospectionRequestRecord | undefined;
  /**
   * Registers another client for the introspection endpoint. Throws a TypeError if `clientId` is
   * empty or already registered, if neither `clientSecret` nor `jwks` is given, or if `jwks` is not a
   * valid JWK Set.
   */
  registerClient(options: RegisterClientOptions): void;
  /**
   * Issues an opaque access token: base64url of 32 random bytes, remembered with its claims. Default
   * claims: `scope: 'read write'`, `client_id: 'test-client'`, `sub: 'user-123'`, `aud` = audience,
   * `iss` = issuer, `iat` = now, `exp` = now + `expiresIn` (default 300), `token_type: 'Bearer'`.
   * `claims` override them; a claim set to `undefined` is removed (e.g. `{ aud: undefined }`).
   * Throws a TypeError for an `active` claim (the stub decides it) or a non-finite `expiresIn`.
   */
  issueOpaqueToken(claims?: Record<string, unknown>, options?: IssueOpaqueTokenOptions): string;
  /**
   * Revokes a token: from now on it introspects as `{"active":false}`. Works for opaque tokens and
   * for JWTs signed by the stub; any other string is accepted and stays inactive.
   */
  revoke(token: string): void;
}
