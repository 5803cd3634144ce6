/**
 * Who is calling, as established from a validated access token. Frozen: it may be shared between
 * requests that present the same token.
 */
export interface Principal {
  /** The access token as presented. */
  readonly token: string;
  /** How the token was validated: local JWT verification or RFC 7662 introspection. */
  readonly source: 'jwt' | 'introspection';
  /** `sub`: the resource owner, or the client itself for client-credentials tokens (RFC 9068 §2.2). */
  readonly subject: string | undefined;
  /** `client_id` (RFC 9068 §2.2, RFC 7662 §2.2), falling back to `azp`. */
  readonly clientId: string | undefined;
  /** `iss`, equal to one of the configured issuers. */
  readonly issuer: string;
  /** `aud`, always as an array. */
  readonly audience: readonly string[];
  /** The granted scopes, from the configured scope claims. */
  readonly scopes: readonly string[];
  /**
   * `exp`; always set for JWTs, `undefined` only for an introspection answer without `exp`. Never an
   * Invalid Date: an `exp` beyond the range of a Date is refused at verification.
   */
  readonly expiresAt: Date | undefined;
  /** The verified JWT claims set, or the introspection response. */
  readonly claims: Readonly<Record<string, unknown>>;
}

// Iterative, not recursive: claims are attacker-shaped, and a validly signed token nested
// 20 000 levels deep must not overflow the stack.
function deepFreeze<T>(value: T): T {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next !== 'object' || next === null || Object.isFrozen(next)) continue;
    Object.freeze(next);
    for (const entry of Object.values(next)) pending.push(entry);
  }
  return value;
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function createPrincipal(
  token: string,
  source: Principal['source'],
  claims: Record<string, unknown>,
  scopes: readonly string[],
): Principal {
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
    expiresAt: typeof claims['exp'] === 'number' ? new Date(claims['exp'] * 1000) : undefined,
    claims,
  });
}
