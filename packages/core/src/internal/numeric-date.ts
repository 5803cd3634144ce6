/**
 * The largest NumericDate bearer-guard accepts for `exp`, in seconds: the end of the range of a
 * JavaScript Date (8.64e15 ms after the epoch, ECMA-262 "Time Values and Time Range"), in the
 * year 275760.
 */
export const MAX_NUMERIC_DATE = 8.64e12;

/**
 * Whether an `exp` that has not passed still bounds the token in time. RFC 7519 §4.1.4 only asks
 * for a NumericDate, but one past the range of a Date (`1e308`, or `1e999`, which JSON parses as
 * Infinity) bounds nothing, has no `expiresAt` and no cache lifetime. Such a token is refused as an
 * invalid claim rather than clamped: an issuer that writes it has a bug worth seeing. NaN is refused
 * too. A past `exp`, however negative, is the expiry check's business (ERR_BEARER_TOKEN_EXPIRED).
 */
export function isBoundedExp(exp: number): boolean {
  return exp <= MAX_NUMERIC_DATE;
}

/** The current time as a NumericDate (RFC 7519 §2): whole seconds since the epoch. */
export const epochSeconds = (): number => Math.floor(Date.now() / 1000);
