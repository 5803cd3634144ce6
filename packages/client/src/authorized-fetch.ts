import * as oauth from 'oauth4webapi';
import { hasNewNonce, type ResolvedDpop } from './dpop.js';
import { invalid, isSecureEnough } from './internal/validate.js';
import { isInvalidTokenChallenge, isNonceChallenge } from './www-authenticate.js';

/** `fetch` with the access token (and with DPoP, a proof) attached. Same signature as the global `fetch`. */
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
 * Send `request` with the token: `Authorization: Bearer` (RFC 6750 §2.1), or with `dpop`
 * `Authorization: DPoP` and a fresh proof (RFC 9449 §7.1) signed by oauth4webapi: `htm` the method,
 * `htu` the URL without query and fragment, `ath` the token's hash, `jti` random, and the nonce last
 * seen from the target's origin. oauth4webapi keeps the `DPoP-Nonce` of every answer per origin.
 */
async function send(request: Request, token: string, dpop: ResolvedDpop | undefined): Promise<Response> {
  if (dpop === undefined) {
    request.headers.set('authorization', `Bearer ${token}`);
    return fetch(request);
  }
  const { handle } = await dpop.binding();
  const url = new URL(request.url);
  try {
    return await oauth.protectedResourceRequest(token, request.method, url, undefined, undefined, {
      DPoP: handle,
      // The target was vetted above (https, loopback, or `allowInsecureHttp`).
      // eslint-disable-next-line @typescript-eslint/no-deprecated
      [oauth.allowInsecureRequests]: url.protocol === 'http:',
      // oauth4webapi builds the two headers; the request is the caller's, with its own body,
      // signal and redirect mode (oauth4webapi would impose `redirect: 'manual'`).
      [oauth.customFetch]: (_url: string, init: RequestInit) => {
        const headers = new Headers(init.headers);
        request.headers.set('authorization', headers.get('authorization') ?? '');
        request.headers.set('dpop', headers.get('dpop') ?? '');
        return fetch(request);
      },
    });
  } catch (error) {
    // oauth4webapi rejects every answer with a challenge; `fetch` returns it as any other answer.
    if (error instanceof oauth.WWWAuthenticateChallengeError) return error.response;
    throw error;
  }
}

/**
 * Build a `fetch` that attaches the token to every request, replacing any `Authorization` (and
 * `DPoP`) the caller set: `Authorization: Bearer <token>` (RFC 6750 §2.1), or with DPoP
 * `Authorization: DPoP <token>` and a new proof per request (RFC 9449 §7.1).
 *
 * Retries, each at most once per call, and only when the request can be replayed (no body, or a
 * string, bytes, Blob, FormData or URLSearchParams body; a stream is consumed by the first send):
 * - a 401 with `DPoP error="use_dpop_nonce"` and a `DPoP-Nonce` (RFC 9449 §9): sent again with a
 *   new proof carrying that nonce. A second one is returned as it is.
 * - a 401 with `error="invalid_token"` on the scheme used (RFC 6750 §3.1): the token is dropped
 *   from the cache and the request sent once more with a new token. For a stream body the 401 is
 *   returned, but the token is still dropped so the next call gets a new one. A refusal within a
 *   few seconds of the last one that dropped a token drops nothing and is returned as it is, so a
 *   backend that refuses every token costs one token request per cooldown, not one per call.
 * So a call makes three requests at most, and never loops.
 *
 * It does not add a deadline or change redirect handling of the backend call: pass `signal` and
 * `redirect` in `init` as for `fetch` (undici drops `Authorization` on cross-origin redirects);
 * every retry runs under the same `signal`. Plain http targets are refused outside loopback unless
 * `allowInsecureHttp` is set, as a token sent in clear text can be replayed by anyone on the path
 * (RFC 6750 §5.3).
 *
 * @see RFC 6750 §2.1, §3.1
 * @see RFC 9449 §7.1 (DPoP-bound token on a request), §9 (resource server nonce)
 */
export function createAuthorizedFetch(
  source: BearerTokenSource,
  allowInsecureHttp: boolean,
  dpop?: ResolvedDpop,
): TokenFetch {
  const scheme = dpop === undefined ? 'bearer' : 'dpop';
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
    // `new Request(input, init)` follows fetch's own merging rules (init.headers replaces the
    // Request's headers); a bodiless Request can be copied this way more than once.
    const attempt = (token: string): Promise<Response> => send(new Request(input, init), token, dpop);
    const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined);
    let token = await source.token(signal ?? undefined);
    let response = await attempt(token);
    let nonceRetried = false;
    let renewed = false;
    while (response.status === 401) {
      const challenge = response.headers.get('www-authenticate');
      let renew = false;
      if (dpop !== undefined && !nonceRetried && isNonceChallenge(challenge) && hasNewNonce(response)) {
        nonceRetried = true;
      } else if (!renewed && isInvalidTokenChallenge(challenge, scheme)) {
        renewed = true;
        // Dropped even when the request cannot be replayed, so the next call gets a new token.
        if (!source.refuse(token)) break;
        renew = true;
      } else {
        break;
      }
      if (!replayable) break;
      await response.body?.cancel();
      if (renew) token = await source.token(signal ?? undefined);
      response = await attempt(token);
    }
    return response;
  };
}
