/** One challenge of a `WWW-Authenticate` header. */
export interface AuthenticationChallenge {
  /** The auth-scheme, lowercased (schemes are case-insensitive, RFC 9110 §11.1). */
  scheme: string;
  /** Auth-params by lowercased name; quoted-string values unescaped. */
  parameters: Record<string, string>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;
// token68 straight after a scheme, e.g. `Basic dXNlcg==`, followed by the end or the next challenge.
const TOKEN68 = /^[ \t]+[A-Za-z0-9\-._~+/]+=*[ \t]*(?=,|$)/;

function readQuoted(text: string): { value: string; rest: string } {
  let value = '';
  for (let i = 1; i < text.length; i++) {
    const char = text[i];
    if (char === '\\' && i + 1 < text.length) value += text[++i] ?? '';
    else if (char === '"') return { value, rest: text.slice(i + 1) };
    else value += char ?? '';
  }
  return { value, rest: '' };
}

/**
 * Parse a `WWW-Authenticate` value into its challenges. A header may hold several challenges
 * (`Basic realm="a", Bearer error="invalid_token"`) and a quoted value may hold commas and escaped
 * quotes, so naive splitting on `,` or searching for `invalid_token` would misread it. Malformed
 * input ends parsing early; what was read before stays.
 *
 * @see RFC 9110 §11.6.1
 */
export function parseWwwAuthenticate(header: string): AuthenticationChallenge[] {
  const challenges: AuthenticationChallenge[] = [];
  let current: AuthenticationChallenge | undefined;
  let rest = header;
  for (;;) {
    rest = rest.replace(/^[\s,]+/, '');
    const name = TOKEN.exec(rest)?.[0];
    if (name === undefined) return challenges;
    rest = rest.slice(name.length);
    const equals = /^[ \t]*=[ \t]*/.exec(rest);
    if (current !== undefined && equals !== null) {
      rest = rest.slice(equals[0].length);
      let value: string;
      if (rest.startsWith('"')) {
        ({ value, rest } = readQuoted(rest));
      } else {
        value = TOKEN.exec(rest)?.[0] ?? '';
        rest = rest.slice(value.length);
      }
      current.parameters[name.toLowerCase()] = value;
      continue;
    }
    current = { scheme: name.toLowerCase(), parameters: {} };
    challenges.push(current);
    const token68 = TOKEN68.exec(rest);
    if (token68 !== null) rest = rest.slice(token68[0].length);
  }
}

/**
 * Whether a response's challenges say the token itself was refused (`error="invalid_token"`:
 * expired, revoked, malformed…) on the scheme it was sent with (`bearer`, or `dpop` for a DPoP-bound
 * token, RFC 9449 §7.1), as opposed to a missing scope or a malformed request, which a new token
 * would not cure.
 *
 * @see RFC 6750 §3.1
 */
export function isInvalidTokenChallenge(
  header: string | null,
  scheme: 'bearer' | 'dpop' = 'bearer',
): boolean {
  if (header === null) return false;
  return parseWwwAuthenticate(header).some(
    (challenge) => challenge.scheme === scheme && challenge.parameters['error'] === 'invalid_token',
  );
}

/**
 * Whether a resource server asks for a DPoP nonce: a `DPoP` challenge with `error="use_dpop_nonce"`.
 *
 * @see RFC 9449 §9
 */
export function isNonceChallenge(header: string | null): boolean {
  if (header === null) return false;
  return parseWwwAuthenticate(header).some(
    (challenge) => challenge.scheme === 'dpop' && challenge.parameters['error'] === 'use_dpop_nonce',
  );
}
