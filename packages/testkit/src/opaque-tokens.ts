import { randomBytes } from 'node:crypto';

import { DEFAULT_EXPIRES_IN, nowSeconds } from './mint-token.js';
import type { ClaimDefaults } from './mint-token.js';
import type { IssueOpaqueTokenOptions } from './introspection-types.js';

/** Number of random bytes in an opaque token (base64url: 43 characters). */
export const OPAQUE_TOKEN_BYTES = 32;

/**
 * The claims remembered for an opaque token: the defaults (shaped by `expiresIn`) overridden by
 * `claims`; claims whose value is `undefined` are removed.
 */
export function buildOpaqueClaims(
  defaults: ClaimDefaults,
  claims: Record<string, unknown> = {},
  options: IssueOpaqueTokenOptions = {},
): Record<string, unknown> {
  if ('active' in claims) {
    throw new TypeError(
      'testkit: an opaque token cannot carry an `active` claim (use revoke(), or setBehaviour("introspection", { mode: "json", … }))',
    );
  }
  const expiresIn = options.expiresIn === undefined ? DEFAULT_EXPIRES_IN : options.expiresIn;
  if (expiresIn !== null && (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn))) {
    throw new TypeError(`testkit: expiresIn must be a finite number or null, got ${String(expiresIn)}`);
  }
  const now = nowSeconds();
  const payload: Record<string, unknown> = {
    scope: 'read write',
    client_id: 'test-client',
    sub: 'user-123',
    aud: defaults.audience,
    iss: defaults.issuer,
    iat: now,
    ...(expiresIn === null ? {} : { exp: now + expiresIn }),
    token_type: 'Bearer',
    ...claims,
  };
  return Object.fromEntries(Object.entries(payload).filter(([, value]) => value !== undefined));
}

/**
 * Whether claims are currently valid by their time claims: a numeric `exp` must be in the future
 * and a numeric `nbf` must not be (RFC 7662 §2.2: expired or not-yet-valid tokens are inactive).
 */
export function isCurrent(claims: Readonly<Record<string, unknown>>, now: number = nowSeconds()): boolean {
  const { exp, nbf } = claims;
  if (typeof exp === 'number' && exp <= now) return false;
  if (typeof nbf === 'number' && nbf > now) return false;
  return true;
}

/** Opaque tokens issued by the stub, with their claims (frozen, never handed out without copying). */
export class OpaqueTokenStore {
  readonly #tokens = new Map<string, Readonly<Record<string, unknown>>>();
  readonly #defaults: ClaimDefaults;

  constructor(defaults: ClaimDefaults) {
    this.#defaults = defaults;
  }

  /** Issues a token for `claims` (see {@link buildOpaqueClaims}) and returns it. */
  issue(claims?: Record<string, unknown>, options?: IssueOpaqueTokenOptions): string {
    const payload = Object.freeze(buildOpaqueClaims(this.#defaults, claims, options));
    let token = randomBytes(OPAQUE_TOKEN_BYTES).toString('base64url');
    // A collision of 256 random bits does not happen; the loop only keeps the store consistent.
    while (this.#tokens.has(token)) token = randomBytes(OPAQUE_TOKEN_BYTES).toString('base64url');
    this.#tokens.set(token, payload);
    return token;
  }

  /** The claims `token` was issued with (whatever its state), or `undefined` if it is not one of ours. */
  get(token: string): Readonly<Record<string, unknown>> | undefined {
    return this.#tokens.get(token);
  }
}
