import { BearerGuardError } from './errors.js';
import type { RequestSocket } from './trusted-proxy.js';

/**
 * The parts of an HTTP request the core reads. Express's `req` fits as is; other frameworks map
 * their request onto it.
 */
export interface ResourceRequest {
  readonly method?: string | undefined;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Parsed query parameters; read only when `tokenLocations.query` is on (RFC 6750 §2.3). */
  readonly query?: unknown;
  /** Parsed form body; read only when `tokenLocations.body` is on (RFC 6750 §2.2). */
  readonly body?: unknown;
  /**
   * The request target as received, with any mount path (Express: `req.originalUrl`); read for a
   * DPoP proof's `htu` (RFC 9449 §4.3). Falls back to `url`.
   */
  readonly originalUrl?: string | undefined;
  readonly url?: string | undefined;
  /**
   * The connection: its `remoteAddress` (for `trustProxy`) and, on TLS, `getPeerCertificate()`
   * (for `mtls.certificate: 'socket'`). Node's `req.socket` fits as is.
   */
  readonly socket?: RequestSocket | undefined;
}

/** The access token of a request and the scheme it came with (`'dpop'`: `Authorization: DPoP`, RFC 9449 §7.1). */
export interface PresentedToken {
  token: string;
  scheme: 'bearer' | 'dpop';
}

/** Where a bearer token may be sent. The header is always accepted. */
export interface TokenLocations {
  /** RFC 6750 §2.2 form-encoded body parameter `access_token`. Defaults to `false`. */
  body: boolean;
  /** RFC 6750 §2.3 URI query parameter `access_token`. Defaults to `false` (it leaks into logs). */
  query: boolean;
}

// RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token; the scheme is case-insensitive (RFC 9110 §11.1).
const BEARER_HEADER = /^bearer +([A-Za-z0-9\-._~+/]+=*)$/i;
const DPOP_HEADER = /^dpop +([A-Za-z0-9\-._~+/]+=*)$/i;
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
// RFC 9110 §11.1: auth-scheme is a token, so the scheme is the leading run of tchars. What follows
// it only decides whether the credential is well formed: "Bearer<TAB>t" or "Bearer,t" is a Bearer
// credential that breaks §11.4's `auth-scheme [ 1*SP ( token68 / #auth-param ) ]`, not another scheme.
const SCHEME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

function fromHeader(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new BearerGuardError('ERR_BEARER_HEADER_MALFORMED');
  const match = BEARER_HEADER.exec(value);
  if (match) return match[1];
  const scheme = SCHEME.exec(value);
  // Another scheme (Basic, DPoP, …) is "no bearer credentials", not an error: RFC 6750 §3.1.
  if (scheme?.[0].toLowerCase() !== 'bearer') return undefined;
  // "Bearer", "Bearer ", "Bearer a b", "Bearer tök€n", "Bearer\tt": a Bearer credential that is not
  // one b64token after 1*SP.
  throw new BearerGuardError('ERR_BEARER_HEADER_MALFORMED');
}

function fromParameters(parameters: unknown): string | undefined {
  if (typeof parameters !== 'object' || parameters === null) return undefined;
  if (!Object.hasOwn(parameters, 'access_token')) return undefined;
  const value = (parameters as Record<string, unknown>)['access_token'];
  // A repeated parameter (?access_token=a&access_token=b) or an empty one is malformed.
  if (typeof value !== 'string' || !B64TOKEN.test(value)) {
    throw new BearerGuardError('ERR_BEARER_HEADER_MALFORMED');
  }
  return value;
}

function isFormRequest(request: ResourceRequest): boolean {
  // RFC 6750 §2.2: only with Content-Type application/x-www-form-urlencoded and not with GET.
  const type = request.headers['content-type'];
  return (
    typeof type === 'string' &&
    type.toLowerCase().startsWith('application/x-www-form-urlencoded') &&
    request.method !== 'GET'
  );
}

/**
 * Read the bearer token from a request, or `undefined` when it carries none.
 *
 * Throws `ERR_BEARER_HEADER_MALFORMED` (400) for a Bearer credential that is not exactly one
 * b64token, and `ERR_BEARER_MULTIPLE_METHODS` (400) when the token is sent by more than one method.
 * It does not look at the token's content.
 *
 * @see RFC 6750 §2 (Authenticated Requests), §3.1 (`invalid_request`)
 */
export function extractBearerToken(request: ResourceRequest, locations: TokenLocations): string | undefined {
  const header = fromHeader(request.headers.authorization);
  if (!locations.query && !locations.body) return header;
  const query = locations.query ? fromParameters(request.query) : undefined;
  const body = locations.body && isFormRequest(request) ? fromParameters(request.body) : undefined;
  const found = [header, query, body].filter((token) => token !== undefined);
  // RFC 6750 §2: "Clients MUST NOT use more than one method to transmit the token in each request."
  if (found.length > 1) throw new BearerGuardError('ERR_BEARER_MULTIPLE_METHODS');
  return found[0];
}

/**
 * {@link extractBearerToken}, and with `dpop` on also `Authorization: DPoP <token68>` (RFC 9449
 * §7.1), telling which scheme carried the token. Without `dpop` a DPoP credential is another
 * scheme: no bearer credentials (RFC 6750 §3.1). A malformed DPoP credential is 400, as a
 * malformed Bearer one is.
 */
export function extractAccessToken(
  request: ResourceRequest,
  locations: TokenLocations,
  dpop: boolean,
): PresentedToken | undefined {
  const authorization = request.headers.authorization;
  if (dpop && typeof authorization === 'string' && SCHEME.exec(authorization)?.[0].toLowerCase() === 'dpop') {
    const match = DPOP_HEADER.exec(authorization);
    if (match?.[1] === undefined) throw new BearerGuardError('ERR_BEARER_HEADER_MALFORMED');
    // RFC 6750 §2: one method per request, whatever the scheme.
    if (locations.query || locations.body) {
      const others = extractBearerToken(
        {
          method: request.method,
          headers: { ...request.headers, authorization: undefined },
          get query(): unknown {
            return request.query;
          },
          get body(): unknown {
            return request.body;
          },
        },
        locations,
      );
      if (others !== undefined) throw new BearerGuardError('ERR_BEARER_MULTIPLE_METHODS');
    }
    return { token: match[1], scheme: 'dpop' };
  }
  const token = extractBearerToken(request, locations);
  return token === undefined ? undefined : { token, scheme: 'bearer' };
}
