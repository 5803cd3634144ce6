/**
 * Parameters of a `Bearer` challenge. `undefined` values are left out.
 *
 * @see RFC 6750 §3 (the `WWW-Authenticate` response header field)
 * @see RFC 9728 §5.1 (`resource_metadata`)
 */
export interface BearerChallengeParameters {
  realm?: string | undefined;
  scope?: string | undefined;
  error?: string | undefined;
  error_description?: string | undefined;
  error_uri?: string | undefined;
  resource_metadata?: string | undefined;
  [parameter: string]: string | undefined;
}

// RFC 9110 §5.6.4: quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE. Control characters
// (other than HTAB) are not allowed at all, so they are dropped rather than escaped: a CR or LF in a
// header value would otherwise be a response-splitting vector, and Node would throw on it.
// eslint-disable-next-line no-control-regex -- the point is to match control characters
const NOT_QDTEXT = /[\u0000-\u0008\u000a-\u001f\u007f]/g;
// Per code point (`u`): a character outside the BMP (an emoji) is one '?', not one per surrogate half.
const NON_LATIN1 = /[\u{100}-\u{10FFFF}]/gu;
const NEEDS_ESCAPE = /["\\]/g;
const AUTH_PARAM_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Turn `value` into an RFC 9110 quoted-string, escaping `"` and `\` and dropping control characters. */
export function quoteString(value: string): string {
  // Header values are Latin-1 on the wire; anything beyond is replaced so Node never throws on set.
  return `"${value.replace(NOT_QDTEXT, '').replace(NON_LATIN1, '?').replace(NEEDS_ESCAPE, '\\$&')}"`;
}

/**
 * Build a `WWW-Authenticate: Bearer …` value. The single place that writes challenges, so every
 * value is escaped the same way.
 *
 * @example
 * bearerChallenge({ realm: 'api', error: 'invalid_token' }) // 'Bearer realm="api", error="invalid_token"'
 * @see RFC 6750 §3
 */
export function bearerChallenge(parameters: BearerChallengeParameters = {}): string {
  return authChallenge('Bearer', parameters);
}

/**
 * A challenge of `scheme` (`Bearer`, `DPoP`) with quoted, escaped parameters; `undefined`
 * parameters are left out.
 *
 * @see RFC 9110 §11.3, RFC 9449 §7.1
 */
export function authChallenge(scheme: 'Bearer' | 'DPoP', parameters: BearerChallengeParameters = {}): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(parameters)) {
    if (value === undefined) continue;
    if (!AUTH_PARAM_NAME.test(name)) throw new TypeError(`invalid auth-param name: ${JSON.stringify(name)}`);
    parts.push(`${name}=${quoteString(value)}`);
  }
  return parts.length === 0 ? scheme : `${scheme} ${parts.join(', ')}`;
}
