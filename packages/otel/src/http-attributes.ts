import type { Attributes } from '@opentelemetry/api';

/**
 * HTTP client span attributes, in the OpenTelemetry semantic conventions (HTTP spans, stable).
 * The URLs are the configuration's or the authorization server's metadata's (`jwks_uri`,
 * `introspection_endpoint`, `token_endpoint`, the well-known metadata locations): never a
 * request's, and the options refuse a user name, a password or a fragment in them. A query is
 * allowed (an API key in one is not unheard of), so its values are redacted.
 */

/** `server.address` and `server.port` of a URL. */
export function serverAttributes(url: string | undefined): Attributes {
  const parsed = url === undefined ? null : URL.parse(url);
  if (parsed === null) return {};
  const port = parsed.port === '' ? (parsed.protocol === 'https:' ? 443 : 80) : Number(parsed.port);
  return { 'server.address': parsed.hostname, 'server.port': port };
}

/**
 * `url.full`: the URL with every query value replaced by `REDACTED` (the conventions' form for
 * values that may be credentials), any user information replaced likewise, and no fragment (never
 * sent). `undefined` for a URL that does not parse.
 */
export function fullUrl(url: string): string | undefined {
  const parsed = URL.parse(url);
  if (parsed === null) return undefined;
  if (parsed.username !== '' || parsed.password !== '') {
    parsed.username = 'REDACTED';
    parsed.password = 'REDACTED';
  }
  if (parsed.search !== '') {
    const query = new URLSearchParams();
    for (const name of parsed.searchParams.keys()) query.append(name, 'REDACTED');
    parsed.search = query.toString();
  }
  parsed.hash = '';
  return parsed.href;
}

/** How an outbound call ended, as read from its channel's message. */
export interface Exchange {
  url: string | undefined;
  /** The operation failed (whatever the status: a 200 with a body that is not a JWK Set fails too). */
  failed: boolean;
  /** The failure's reason or code (`timeout`, `network`, `ERR_TOKEN_CLIENT_…`), when it failed. */
  errorType: string | undefined;
  /** The HTTP status of the last answer, when one arrived. */
  status: number | undefined;
}

/**
 * The conventions' verdict: an error when the call failed or the status is 4xx or 5xx (a client
 * span's rule); `error.type` is then the status code as a string for such a status, else the
 * failure's reason, else `_OTHER`. `undefined` for a success.
 */
export function errorType(exchange: Exchange): string | undefined {
  const { status } = exchange;
  if (status !== undefined && status >= 400) return String(status);
  if (!exchange.failed) return undefined;
  return exchange.errorType ?? '_OTHER';
}
