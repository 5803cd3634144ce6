/**
 * Public types of `@bearer-guard/testkit`.
 *
 * @packageDocumentation
 */

/** JWS algorithms the stub can generate keys for and sign with. `EdDSA` keys are Ed25519. */
export type StubAlgorithm = 'RS256' | 'PS256' | 'ES256' | 'EdDSA';

import type { StubIntrospection } from './introspection-types.js';

/**
 * Endpoints of the stub whose behaviour can be switched with {@link AuthorizationServerStub.setBehaviour}.
 * `introspection` is the RFC 7662 endpoint at `origin + '/introspect'`.
 */
export type EndpointName = 'jwks' | 'oauthMetadata' | 'openidConfiguration' | 'introspection';

/**
 * How an endpoint answers. `ok` is the normal answer; every other mode simulates a failure a
 * resource server must survive.
 */
export type EndpointBehaviour =
  /** Answer normally. */
  | { mode: 'ok' }
  /** Answer `status` (default 500) with the JSON body `{"error":"server_error"}`. */
  | { mode: 'fail'; status?: number }
  /** Accept the request and never answer. The socket is destroyed by {@link AuthorizationServerStub.close}. */
  | { mode: 'hang' }
  /** Answer normally after `delayMs` milliseconds. */
  | { mode: 'slow'; delayMs: number }
  /** Answer 200 with `content-type: application/json` and a body that is not JSON. */
  | { mode: 'garbage' }
  /** Answer 200 with `content-type: text/html` and an HTML page. */
  | { mode: 'html' }
  /**
   * Answer 200 `application/json` with a body of exactly `bytes` bytes (default 2 MiB): the
   * normal document plus a `"padding"` string member, so the body is valid JSON, just too large.
   */
  | { mode: 'huge'; bytes?: number }
  /** Answer `302 Found` with the given `Location`. */
  | { mode: 'redirect'; location: string }
  /** Answer `404` with the JSON body `{"error":"not_found"}`. */
  | { mode: 'notFound' }
  /**
   * Answer exactly `body` with `status` (default 200) and `contentType` (default
   * `application/json`), without looking at the request (no client authentication): a string body
   * is sent verbatim, any other value as its JSON text. E.g. `{ mode: 'json', body: { active: 'true' } }`
   * or `{ mode: 'json', body: '{"active":true}', contentType: 'text/plain' }`.
   */
  | { mode: 'json'; status?: number; body: unknown; contentType?: string };

/** Options of {@link startAuthorizationServer}. */
export interface StartAuthorizationServerOptions {
  /**
   * Path appended to the origin to form the issuer, e.g. `'/tenant-a'` (for RFC 8414 §3.1 path
   * insertion tests). Must be empty or start with `/`; a trailing `/` is kept in the issuer and
   * dropped when building the well-known URLs, as RFC 8414 §3.1 and OpenID Connect Discovery §4 say.
   * @defaultValue `''`
   */
  issuerPath?: string;
  /**
   * Algorithms of the initial keys, one published key each. The first one is the algorithm of the
   * default signing key.
   * @defaultValue `['ES256', 'RS256', 'EdDSA']`
   */
  algorithms?: StubAlgorithm[];
  /**
   * Default `aud` of minted tokens.
   * @defaultValue `'https://api.example'`
   */
  audience?: string;
  /**
   * Which discovery documents are served. A document that is not served answers 404 while its
   * behaviour is `ok` (requests are still counted).
   * @defaultValue both served
   */
  discovery?: { oauthAuthorizationServer?: boolean; openidConfiguration?: boolean };
  /**
   * Extra or overriding members merged into both metadata documents. A member set to `undefined`
   * is removed from the documents (e.g. `{ jwks_uri: undefined }`).
   */
  metadata?: Record<string, unknown>;
}

/** Options of {@link AuthorizationServerStub.sign}. */
export interface SignOptions {
  /**
   * Algorithm to sign with: the current key of this algorithm is used unless `kid` is given.
   * Throws if the stub has no key of this algorithm (add one with {@link AuthorizationServerStub.addKey}).
   */
  alg?: StubAlgorithm;
  /**
   * Key to sign with, published or not. Defaults to the current key of `alg`, else the default
   * signing key.
   */
  kid?: string;
  /**
   * `typ` header parameter; `null` omits it.
   * @defaultValue `'at+jwt'` (RFC 9068)
   */
  typ?: string | null;
  /**
   * Extra protected header parameters, applied over `alg`, `kid` and `typ`. Names listed in a
   * `crit` member are accepted by the signer, so tokens with unknown critical extensions can be made.
   */
  header?: Record<string, unknown>;
  /**
   * `exp` as seconds from now (negative for the past); `null` omits `exp`.
   * @defaultValue `300`
   */
  expiresIn?: number | null;
  /** `nbf` as seconds from now (negative for the past). Omitted by default. */
  notBefore?: number;
  /**
   * `iat` as absolute epoch seconds.
   * @defaultValue now
   */
  issuedAt?: number;
}

/** Options of {@link AuthorizationServerStub.addKey}. */
export interface AddKeyOptions {
  /**
   * Whether the key is published in the JWKS.
   * @defaultValue `true`
   */
  publish?: boolean;
  /**
   * The key id. Must not be used by another key of the stub.
   * @defaultValue the RFC 7638 JWK thumbprint of the public key
   */
  kid?: string;
}

/** Options of {@link AuthorizationServerStub.rotateKeys}. */
export interface RotateKeysOptions {
  /**
   * Unpublish the previous current key of the algorithm. It stays in the stub (so it can still
   * sign when its `kid` is given) but is no longer in the JWKS.
   * @defaultValue `false`
   */
  retireOld?: boolean;
}

/** Claims given to a token factory; they override the defaults, and a claim set to `undefined` is removed. */
export type TokenClaims = Record<string, unknown>;

/** Makes one deliberately invalid token (a compact JWS string). */
export type BadTokenFactory = (claims?: TokenClaims) => Promise<string>;

/**
 * Factories of the invalid tokens a resource server must reject. Unless stated otherwise each
 * token carries the default claims of {@link AuthorizationServerStub.sign}, overridden by `claims`
 * (the helper's own defect is applied before the overrides, except where noted).
 */
export interface BadTokens {
  /** Signed by the default key; `exp` is now − 3600 and `iat` now − 7200. */
  readonly expired: BadTokenFactory;
  /** Signed by the default key; `nbf` is now + 3600 (and `exp` now + 3900). */
  readonly notYetValid: BadTokenFactory;
  /** Signed by the default key; `aud` is `'https://wrong.example'`. */
  readonly wrongAudience: BadTokenFactory;
  /** Signed by the default key; `iss` is `'https://evil.example'`. */
  readonly wrongIssuer: BadTokenFactory;
  /** Unsecured JWT: header `{"alg":"none","typ":"at+jwt"}`, empty signature segment. */
  readonly algNone: BadTokenFactory;
  /**
   * Algorithm-confusion attack: header `{"alg":"HS256","typ":"at+jwt","kid":<RSA kid>}`, HMAC-SHA256
   * keyed with the bytes of the RSA public key's SPKI PEM (exactly the string returned by
   * {@link AuthorizationServerStub.publicKeyPem}). Uses the current RS256 key, adding and publishing
   * one if the stub has none.
   */
  readonly hs256WithPublicKey: BadTokenFactory;
  /** Validly signed (default algorithm) by a fresh key whose `kid` is not published and not known to the stub. */
  readonly unknownKid: BadTokenFactory;
  /** Signed by a fresh unpublished key whose public JWK is embedded in the `jwk` header (with its own `kid`). */
  readonly embeddedJwk: BadTokenFactory;
  /**
   * Signed by a fresh unpublished key; the `jku` header points at `origin + '/attacker-jwks'`,
   * which serves that key. Hits of that URL are counted in {@link AuthorizationServerStub.attackerHits}.
   */
  readonly jku: BadTokenFactory;
  /** Like {@link BadTokens.jku} but with an `x5u` header pointing at the same `/attacker-jwks` URL. */
  readonly x5u: BadTokenFactory;
  /**
   * A valid token (default key) whose payload segment was replaced after signing: `scope` is
   * widened to `'admin'` (or `'admin root'` if it already was `'admin'`); the original signature is kept.
   */
  readonly tampered: BadTokenFactory;
  /** Validly signed by the default key, without `exp`. */
  readonly missingExp: BadTokenFactory;
}

/**
 * Request counts per endpoint, plus hits of the attacker JWKS served for
 * {@link BadTokens.jku}/{@link BadTokens.x5u}, plus `introspectionAuthFailures`: introspection
 * requests whose client authentication was rejected (answered 401 `invalid_client`, or 400
 * `invalid_request` for more than one authentication method). Those are also counted in `introspection`.
 */
export type StubCounters = Record<EndpointName, number> & {
  attackerJwks: number;
  introspectionAuthFailures: number;
};

/**
 * A running authorization-server stub on `127.0.0.1`. Obtain one with
 * {@link startAuthorizationServer} and always {@link AuthorizationServerStub.close | close} it.
 */
export interface AuthorizationServerStub extends StubIntrospection {
  /** `http://127.0.0.1:PORT` */
  readonly origin: string;
  /** `origin + issuerPath`; the `iss` of minted tokens and the `issuer` of the metadata. */
  readonly issuer: string;
  /** URL of the JWKS as advertised in the metadata: `origin + issuerPath (without trailing '/') + '/jwks'`. */
  readonly jwksUri: string;
  /** RFC 8414 §3.1 metadata URL: `origin + '/.well-known/oauth-authorization-server' + issuerPath`. */
  readonly oauthMetadataUrl: string;
  /** OpenID Connect Discovery URL: `issuer + '/.well-known/openid-configuration'`. */
  readonly openidConfigurationUrl: string;
  /** Default `aud` of minted tokens. */
  readonly audience: string;
  /**
   * Snapshot of the request counts per endpoint since start or the last {@link AuthorizationServerStub.resetCounters}.
   * Every request to the endpoint's path is counted, whatever its method or the current behaviour.
   * Also has `attackerJwks`, the same number as {@link AuthorizationServerStub.attackerHits}, and
   * `introspectionAuthFailures` (see {@link StubCounters}).
   */
  readonly counters: StubCounters;
  /** Requests to `/attacker-jwks` (the URL put in `jku`/`x5u` headers by the bad tokens) since start or the last reset. */
  readonly attackerHits: number;
  /** Sets every counter, including {@link AuthorizationServerStub.attackerHits}, to 0. */
  resetCounters(): void;
  /** Switches how `endpoint` answers from now on (requests already being delayed keep their behaviour). */
  setBehaviour(endpoint: EndpointName, behaviour: EndpointBehaviour): void;
  /**
   * Mints a valid token. Default claims: `iss` = issuer, `aud` = audience, `sub` = `'user-123'`,
   * `client_id` = `'test-client'`, `iat` = now, `exp` = now + 300, `jti` = random UUID,
   * `scope` = `'read write'`. `claims` override them; a claim set to `undefined` is removed.
   */
  sign(claims?: TokenClaims, options?: SignOptions): Promise<string>;
  /**
   * Generates a key for `alg` and returns its kid. It becomes the current key of `alg` only if
   * the stub had no key of that algorithm.
   */
  addKey(alg: StubAlgorithm, options?: AddKeyOptions): Promise<string>;
  /** Adds the key to the published JWKS. Throws for an unknown kid. */
  publishKey(kid: string): void;
  /** Removes the key from the published JWKS; it can still sign when its kid is given. Throws for an unknown kid. */
  unpublishKey(kid: string): void;
  /**
   * Forgets the key entirely. If it was the current key of its algorithm, the most recently added
   * remaining key of that algorithm becomes current. Throws for an unknown kid.
   */
  removeKey(kid: string): void;
  /**
   * Generates a new key for `alg` (default: the default signing algorithm), publishes it and makes
   * it the current signing key of `alg`. The old current key stays published unless
   * `{ retireOld: true }`. Returns the new kid.
   */
  rotateKeys(alg?: StubAlgorithm, options?: RotateKeysOptions): Promise<string>;
  /** The public JWKS currently published (what the JWKS endpoint serves when `ok`); a fresh copy. */
  jwks(): { keys: Record<string, unknown>[] };
  /** Public key of `kid` (default: the default signing key) as an SPKI PEM string. */
  publicKeyPem(kid?: string): Promise<string>;
  /** Public JWK (with `kid`, `alg`, `use: 'sig'`) of `kid` (default: the default signing key); a fresh copy. */
  publicJwk(kid?: string): Record<string, unknown>;
  /** Factories of deliberately invalid tokens. */
  readonly bad: BadTokens;
  /**
   * Stops the server and destroys every open socket, including requests left hanging by the
   * `hang` behaviour and pending `slow` answers. Idempotent: later calls return the same promise.
   */
  close(): Promise<void>;
}
