import { BearerGuardError } from './errors.js';

/**
 * The confirmation methods (RFC 7800 §3.1 `cnf` members) that bind an access token to a key its
 * presenter must prove it holds: `jkt` (DPoP, RFC 9449 §6) and `x5t#S256` (a client certificate,
 * RFC 8705 §3). A token carrying one is not a bearer token: accepting it without the proof would
 * defeat the binding (RFC 9449 §7.1, RFC 8705 §3).
 */
export type ConfirmationMethod = 'jkt' | 'x5t#S256';

const METHODS: readonly ConfirmationMethod[] = ['jkt', 'x5t#S256'];

/**
 * The binding a token's claims (a JWT payload or an introspection answer) declare, or `undefined`
 * for an unbound token. Other `cnf` members (RFC 7800 leaves the set open) do not bind by themselves.
 * A `cnf` that is not a JSON object is an invalid claim (RFC 7800 §3.1).
 */
export function confirmationMethod(
  claims: Readonly<Record<string, unknown>>,
): ConfirmationMethod | undefined {
  const cnf = claims['cnf'];
  if (cnf === undefined) return undefined;
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) {
    throw new BearerGuardError('ERR_BEARER_TOKEN_CLAIM_INVALID', {
      cause: new Error('cnf is not an object'),
    });
  }
  return METHODS.find((method) => Object.hasOwn(cnf, method));
}

/**
 * Refuse a sender-constrained token presented as a bearer token: 401 `invalid_token`
 * (`ERR_BEARER_TOKEN_SENDER_CONSTRAINED`) until the proof its binding requires has been checked.
 */
export function refuseBoundToken(claims: Readonly<Record<string, unknown>>): void {
  const method = confirmationMethod(claims);
  if (method !== undefined) {
    throw new BearerGuardError('ERR_BEARER_TOKEN_SENDER_CONSTRAINED', {
      cause: new Error(`the token is bound by cnf.${method} and was presented without its proof`),
    });
  }
}

/** How a token is bound, as `req.auth.confirmation` tells it: `{ jkt }` or `{ 'x5t#S256' }`. */
export type Confirmation = { readonly jkt: string } | { readonly 'x5t#S256': string };

/**
 * The binding of a token's claims, with its value, or `undefined` for an unbound token. A binding
 * member that is not a non-empty string is an invalid claim. Both members at once are refused:
 * a token may carry one proof-of-possession mechanism (as node-oidc-provider enforces), and which
 * one to check would otherwise be the presenter's choice.
 */
export function readConfirmation(claims: Readonly<Record<string, unknown>>): Confirmation | undefined {
  if (confirmationMethod(claims) === undefined) return undefined;
  const cnf = claims['cnf'] as Record<string, unknown>;
  const jkt = cnf['jkt'];
  const x5t = cnf['x5t#S256'];
  if (
    (jkt !== undefined && x5t !== undefined) ||
    ![jkt, x5t].some((v) => typeof v === 'string' && v !== '')
  ) {
    throw new BearerGuardError('ERR_BEARER_TOKEN_CLAIM_INVALID', {
      cause: new Error('cnf.jkt / cnf.x5t#S256 is not one non-empty string'),
    });
  }
  return typeof jkt === 'string' ? { jkt } : { 'x5t#S256': x5t as string };
}
