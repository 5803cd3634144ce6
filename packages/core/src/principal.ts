import { readConfirmation, type Confirmation } from './confirmation.js';
import { deepFreeze } from './deep-freeze.js';
import { BearerGuardError } from './errors.js';

/**
 * Who is calling, as established from a validated access token: a {@link JwtPrincipal} or an
 * {@link IntrospectionPrincipal}, told apart by `source`. Frozen: it may be shared between requests
 * that present the same token.
 */
export type Principal = JwtPrincipal | IntrospectionPrincipal;

/** What every principal carries, however its token was validated. */
interface PrincipalFields {
  /** The access token as presented. */
  readonly token: string;
  /** How the token was validated: local JWT verification or RFC 7662 introspection. */
  readonly source: 'jwt' | 'introspection';
  /**
   * `sub`: the resource owner, or the client itself for client-credentials tokens. RFC 9068 §2.2
   * requires it in JWT access tokens and `profile: 'rfc9068'` refuses a JWT without it; the default
   * profile also accepts plain JWTs without `sub`, and RFC 7662 §2.2 makes it optional in an
   * introspection answer, so it may be `undefined`.
   */
  readonly subject: string | undefined;
  /**
   * `client_id` (RFC 9068 §2.2, RFC 7662 §2.2), falling back to `azp`. Always set with
   * `profile: 'rfc9068'`; otherwise `undefined` when the token names neither.
   */
  readonly clientId: string | undefined;
  /** `iss`, equal to one of the configured issuers (for introspection: the configured issuer when the answer has no `iss`). */
  readonly issuer: string;
  /** `aud`, always as an array; empty only for an introspection answer without `aud` accepted by `acceptMissingAudience`. */
  readonly audience: readonly string[];
  /** The granted scopes, from the configured scope claims. */
  readonly scopes: readonly string[];
  /** `exp` as a Date. Never an Invalid Date: an `exp` beyond the range of a Date is refused at validation. */
  readonly expiresAt: Date | undefined;
  /** The verified JWT claims set, or the introspection response. */
  readonly claims: Readonly<Record<string, unknown>>;
  /**
   * How the token is bound to its presenter (RFC 7800 `cnf`): `{ jkt }` for DPoP (RFC 9449 §6),
   * `{ 'x5t#S256' }` for a client certificate (RFC 8705 §3), `undefined` for a bearer token. A
   * bound token reaches a route only after its proof was checked on that very request.
   */
  readonly confirmation?: Confirmation | undefined;
}

/** A JWT access token validated locally (signature, `iss`, `aud`, `exp`; RFC 9068 §4). */
export interface JwtPrincipal extends PrincipalFields {
  readonly source: 'jwt';
  /** `exp`: always set, since a JWT without a numeric `exp` is refused (`ERR_BEARER_TOKEN_CLAIM_INVALID`). */
  readonly expiresAt: Date;
}

/** An opaque (or introspected) token the authorization server vouched for (RFC 7662 §2.2). */
export interface IntrospectionPrincipal extends PrincipalFields {
  readonly source: 'introspection';
  /** `exp`, or `undefined` when the answer has none (RFC 7662 §2.2 makes it optional). */
  readonly expiresAt: Date | undefined;
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/**
 * The principal of a validated token. The callers have checked the claims already; the one check
 * here is the one the types rest on: a JWT principal always has `expiresAt` (the JWT verifier
 * requires a numeric `exp`, so this never refuses a token it accepted).
 */
export function createPrincipal(
  token: string,
  source: 'jwt',
  claims: Record<string, unknown>,
  scopes: readonly string[],
): JwtPrincipal;
export function createPrincipal(
  token: string,
  source: Principal['source'],
  claims: Record<string, unknown>,
  scopes: readonly string[],
): Principal;
export function createPrincipal(
  token: string,
  source: Principal['source'],
  claims: Record<string, unknown>,
  scopes: readonly string[],
): Principal {
  const exp = claims['exp'];
  const expiresAt = typeof exp === 'number' ? new Date(exp * 1000) : undefined;
  if (source === 'jwt' && (expiresAt === undefined || Number.isNaN(expiresAt.getTime()))) {
    throw new BearerGuardError('ERR_BEARER_TOKEN_CLAIM_INVALID', {
      cause: new Error('a JWT access token needs a numeric exp (RFC 9068 §2.2)'),
    });
  }
  const aud = claims['aud'];
  return deepFreeze({
    token,
    source,
    subject: optionalString(claims['sub']),
    clientId: optionalString(claims['client_id']) ?? optionalString(claims['azp']),
    issuer: optionalString(claims['iss']) ?? '',
    audience:
      typeof aud === 'string'
        ? [aud]
        : Array.isArray(aud)
          ? aud.filter((entry) => typeof entry === 'string')
          : [],
    scopes,
    expiresAt,
    claims,
    confirmation: readConfirmation(claims),
  } as Principal);
}
