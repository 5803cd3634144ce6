import { invalid, isSecureEnough } from './internal/validate.js';
import { isInvalidTokenChallenge } from './www-authenticate.js';

/** `fetch` with a bearer token attached. Same signature as the global `fetch`. */
export type TokenFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Where an authorized fetch gets its token and reports a refused one. */
export interface BearerTokenSource {
  /** A valid access token (cached, or new when the cached one was dropped). */
  token(signal: AbortSignal | undefined): Promise<string>;
  /**
   * A backend refused `accessToken`: drop it if it is still the cached one (within a cooldown, at
   * most once). Returns whether `token()` now gives a token worth a retry.
   */
  refuse(accessToken: string): boolean;
}

/**
 * Whether the request can be sent a second time as it was the first. Strings, bytes, blobs, form
 * data and URLSearchParams are re-serialised on every send; a stream is consumed by the first
 * send, and a `Request` carrying a body holds it as a stream.
 */
function isReplayable(input: string | URL | Request, init: RequestInit | undefined): boolean {
  const body = init?.body;
  if (body === undefined || body === null) return !(input instanceof Request) || input.body === null;
  return (
    typeof body === 'string' ||
    body instanceof URLSearchParams ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof Blob ||
    body instanceof FormData
  );
}

function targetUrl(input: string | URL | Request): URL {
  try {
    return new URL(input instanceof Request ? input.url : input);
  } catch {
    const text = input instanceof Request ? input.url : input.toString();
    throw invalid('fetch(input)', text, 'an absolute URL', {
      code: 'ERR_TOKEN_CLIENT_INVALID_ARGUMENT',
    });
  }
}

/**
 * Build a `fetch` that attaches `Authorization: Bearer <token>` (RFC 6750 §2.1) to every request,
 * replacing any the caller set. When the backend answers 401 with a Bearer challenge carrying
 * `error="invalid_token"` (RFC 6750 §3.1), the token is dropped from the cache and, if the request
 * can be replayed (no body, or a string, bytes, Blob, FormData or URLSearchParams body), sent once
 * more with a new token. A 401 for a request with a stream body is returned as it is, but the
 * token is still dropped so the next call gets a new one. The retried request is never retried
 * again, whatever it gets. A refusal within a few seconds of the last one that dropped a token
 * drops nothing and is returned as it is, so a backend that refuses every token costs one token
 * request per cooldown, not one per call.
 *
 * It does not add a deadline or change redirect handling of the backend call: pass `signal` and
 * `redirect` in `init` as for `fetch` (undici drops `Authorization` on cross-origin redirects).
 * Plain http targets are refused outside loopback unless `allowInsecureHttp` is set, as a token
 * sent in clear text can be replayed by anyone on the path (RFC 6750 §5.3).
 *
 * @see RFC 6750 §2.1, §3.1
 */
export function createAuthorizedFetch(source: BearerTokenSource, allowInsecureHttp: boolean): TokenFetch {
  return async function authorizedFetch(input, init) {
    const url = targetUrl(input);
    if (!isSecureEnough(url, allowInsecureHttp)) {
      throw invalid(
        'fetch(input)',
        url.origin,
        'an https URL (plain http only on loopback, or with `allowInsecureHttp: true`)',
        {
          code: 'ERR_TOKEN_CLIENT_INVALID_ARGUMENT',
        },
      );
    }
    const replayable = isReplayable(input, init);
    const send = (token: string): Promise<Response> => {
      // `new Request(input, init)` follows fetch's own merging rules (init.headers replaces the
      // Request's headers); a bodiless Request can be copied this way more than once.
      const request = new Request(input, init);
      request.headers.set('authorization', `Bearer ${token}`);
      return fetch(request);
    };
    const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined);
    const token = await source.token(signal ?? undefined);
    const response = await send(token);
    if (response.status !== 401 || !isInvalidTokenChallenge(response.headers.get('www-authenticate'))) {
      return response;
    }
    const renewable = source.refuse(token);
    if (!replayable || !renewable) return response;
    await response.body?.cancel();
    return send(await source.token(signal ?? undefined));
  };
}
