import { readCompactToken, type CompactJws } from './compact-jws.js';
import type { AuthenticateMessage } from './diagnostics.js';
import { BearerGuardError } from './errors.js';
import type { Introspector } from './introspection.js';
import type { VerifiedJwt } from './jwt-access-token.js';
import type { ResolvedOptions } from './options.js';
import { createPrincipal, type Principal } from './principal.js';
import { readScopes } from './scope.js';
import { VerifiedTokenCache } from './token-cache.js';
import type { TrustedIssuer, TrustedIssuers } from './trusted-issuers.js';

/**
 * From a token string to its principal: the caches first, then routing by what the token is (a
 * JWS of a configured issuer is verified here, anything else is introspected, RFC 7662 §2), then
 * the verification. Knows nothing of requests, schemes or challenges: the guard does those.
 */
export class TokenValidation {
  /** Issuers whose JWTs are validated locally, by `iss`. */
  readonly issuers: ReadonlyMap<string, TrustedIssuer>;
  readonly introspector: Introspector | undefined;
  /** `introspectJwts`: the introspecting issuer's JWTs are introspected after local validation. */
  readonly #introspectJwts: boolean;
  readonly #cache: VerifiedTokenCache | undefined;
  readonly #scopeClaims: ResolvedOptions['scopeClaims'];

  constructor(trusted: TrustedIssuers, options: ResolvedOptions) {
    this.issuers = trusted.local;
    this.introspector = trusted.introspector;
    this.#scopeClaims = options.scopeClaims;
    this.#introspectJwts =
      trusted.introspector !== undefined &&
      options.issuers.some((entry) => entry.introspection?.introspectJwts === true);
    // Without an issuer whose JWTs are verified here the cache could never hold anything.
    this.#cache =
      options.tokenCacheMax > 0 && trusted.local.size > 0
        ? new VerifiedTokenCache(options.tokenCacheMax, options, options.tokenCacheAdmission)
        : undefined;
  }

  /** The introspection cache's key (a namespaced SHA-256); not computed at all without introspection. */
  digest(token: string): string {
    return this.introspector === undefined ? '' : this.introspector.digest(token);
  }

  /**
   * A still-valid cached result: a verified JWT (and, with `introspectJwts`, its cached
   * introspection), or a cached introspection answer. Throws for a cached token past `exp`.
   */
  fromCache(token: string, digest: string): Principal | undefined {
    const jwt = this.#cache?.get(token, Date.now());
    if (jwt !== undefined) {
      return !this.#introspectJwts ||
        jwt.issuer !== this.introspector?.issuer ||
        this.introspector.cached(token, digest) !== undefined
        ? jwt
        : undefined;
    }
    return this.introspector?.cached(token, digest);
  }

  /** The configured issuer string of a principal (never the token's own text). */
  configuredIssuer(principal: Principal): string | undefined {
    if (principal.source === 'introspection') return this.introspector?.issuer;
    return this.issuers.get(principal.issuer)?.config.issuer;
  }

  /**
   * Validate a token the caches could not answer for: route it by what it is (compact-jws.ts),
   * before any lookup, key fetch or call. Throws or rejects with a {@link BearerGuardError}. A JWS
   * signed by a key already selected once skips jose's selection (its promise and key import); its
   * signature is checked on libuv's pool.
   *
   * The caches need no such check in front of them: both hold only tokens that passed it here (the
   * token cache requires the very string it verified, the introspection cache is keyed by the
   * SHA-256 of the exact string), so a token that is not canonical can never be a hit.
   */
  validate(token: string, digest: string, message?: AuthenticateMessage): Principal | Promise<Principal> {
    const compact = readCompactToken(token);
    const introspector = this.introspector;
    if (compact.kind !== 'jws') {
      // Opaque to us, or a JWE we hold no key for: only its issuer can tell (RFC 7662 §2).
      if (introspector !== undefined) {
        if (message !== undefined)
          Object.assign(message, { source: 'introspection', issuer: introspector.issuer });
        return introspector.introspect(token, digest, message);
      }
      throw new BearerGuardError('ERR_BEARER_TOKEN_MALFORMED', {
        cause: new Error(compact.kind === 'jwe' ? 'a JWE, and no introspection' : 'not a JWS'),
      });
    }
    const local = this.issuers.get(this.#issuerOf(compact.claims));
    if (message !== undefined) message.issuer = local?.config.issuer ?? introspector?.issuer;
    const published = local?.keysPublished?.() ?? true;
    if (published instanceof Promise) {
      return published.then((keys) => this.#verifyJws(token, digest, compact, local, keys, message));
    }
    return this.#verifyJws(token, digest, compact, local, published, message);
  }

  /** {@link validate} for a JWS of a configured issuer, once it is known whether its keys are published. */
  #verifyJws(
    token: string,
    digest: string,
    compact: CompactJws,
    local: TrustedIssuer | undefined,
    published: boolean,
    message: AuthenticateMessage | undefined,
  ): Principal | Promise<Principal> {
    const introspector = this.introspector;
    // No local verifier (`localJwts: false`), or metadata without `jwks_uri`: #issuerOf let it
    // through, so it is the introspecting issuer's JWT, and that server validates it.
    if (local === undefined || !published) {
      if (introspector === undefined) throw new Error('unreachable: an issuer without keys or introspection');
      if (message !== undefined) message.source = 'introspection';
      return introspector.introspect(token, digest, message);
    }
    if (message !== undefined) message.source = 'jwt';
    // `introspectJwts`: the signature check runs first, then the server confirms it is still active.
    const confirm = this.#introspectJwts && local.config.issuer === introspector?.issuer;
    const verified = local.verify(token, compact);
    if (confirm) {
      return Promise.resolve(verified).then(async (result) => {
        const principal = this.#remember(token, result);
        await introspector.introspect(token, digest);
        return principal;
      });
    }
    // One reaction, no async function: the cold path's promises are its cost beside the signature.
    if (verified instanceof Promise) return verified.then((result) => this.#remember(token, result));
    return this.#remember(token, verified);
  }

  /**
   * The unverified `iss` of a JWS, only to choose among configured issuers (RFC 8725 §3.10); a
   * JWS of no configured issuer is refused here, never sent to introspection or to a key set: it is
   * not opaque (its claims are readable), and no server of ours issued it.
   */
  #issuerOf(claims: Readonly<Record<string, unknown>>): string {
    const iss = claims['iss'];
    // Absent: a missing claim, as jose reports it (CLAIM_INVALID); present: it must be one of ours.
    if (iss === undefined) {
      throw new BearerGuardError('ERR_BEARER_TOKEN_CLAIM_INVALID', { cause: new Error('no iss') });
    }
    if (typeof iss !== 'string' || (!this.issuers.has(iss) && iss !== this.introspector?.issuer)) {
      throw new BearerGuardError('ERR_BEARER_TOKEN_ISSUER_INVALID', {
        cause: new Error(`iss ${JSON.stringify(iss)}`),
      });
    }
    return iss;
  }

  /** The principal of a verified JWT, offered to the token cache with the key that verified it. */
  #remember(token: string, verified: VerifiedJwt): Principal {
    const { payload } = verified;
    const principal = createPrincipal(token, 'jwt', payload, readScopes(payload, this.#scopeClaims));
    this.#cache?.set(principal, verified, Date.now());
    return principal;
  }
}
