import * as oauth from 'oauth4webapi';
import { hasNewNonce, type ResolvedDpop } from './dpop.js';
import { TokenRequestError } from './errors.js';
import { boundedFetch, HttpFailure, type FetchLimits } from './internal/bounded-fetch.js';
import { classify } from './internal/classify.js';
import { isPlainObject } from './internal/validate.js';
import type { TokenParameters } from './token-parameters.js';

/** What one token request needs besides the parameters. */
export interface TokenRequestContext {
  clientId: string;
  clientAuthentication: oauth.ClientAuth;
  limits: FetchLimits;
  /** Lifetime assumed when the response has no `expires_in`, in seconds. */
  defaultExpiresIn: number;
  /** DPoP (RFC 9449 §5): every token request carries a proof, and the token must be `DPoP`-bound. */
  dpop: ResolvedDpop | undefined;
}

/** A token as issued. Times are on the monotonic clock (`performance.now()`), in milliseconds. */
export interface IssuedToken {
  accessToken: string;
  /** The granted scope (RFC 6749 §5.1), or `undefined` when the server did not say. */
  scope: string | undefined;
  /** The lifetime in seconds: the server's `expires_in`, or the configured default. */
  expiresIn: number;
  /** Whether `expiresIn` is the default because the response had none. */
  defaulted: boolean;
  /** When the request was sent: the lifetime counts from here, as the server's clock started earlier still. */
  sentAt: number;
}

function invalidResponse(endpoint: string, status: number, message: string): TokenRequestError {
  return new TokenRequestError(
    'ERR_TOKEN_CLIENT_INVALID_RESPONSE',
    `token response from ${endpoint} ${message}`,
    {
      step: 'token',
      endpoint,
      status,
    },
  );
}

/** RFC 6749 Appendix A.12: `access-token = 1*VSCHAR`, VSCHAR = %x20-7E. */
const ACCESS_TOKEN = /^[\x20-\x7E]+$/;

/**
 * The longest `expires_in` taken as given: one year. A larger value is not a lifetime any server
 * means; `1e308` would otherwise cache a token forever (`expiresAt` = Infinity).
 */
export const MAX_EXPIRES_IN = 365 * 24 * 60 * 60;

/**
 * A refused `token_type` as shown in a message: only when it looks like a type name (RFC 6749
 * §11.1: `1*name-char`) of at most 20 characters, such as `DPoP` or `mac`. Anything else is the
 * server's free text, which could be long, forge log lines, or even be a token.
 */
function describeTokenType(value: string): string {
  return /^[A-Za-z0-9._-]{1,20}$/.test(value) ? `token_type "${value}"` : 'an unsupported token_type';
}

/**
 * Why the raw `expires_in` is not a lifetime, or `undefined` when it is one or is absent (RFC 6749
 * §5.1 only RECOMMENDS it). Appendix A.14 makes it `1*DIGIT`: a whole number of seconds, here also
 * at least 1 and at most {@link MAX_EXPIRES_IN}. §5.1 wants a JSON number, but Azure AD v1 and AD FS
 * send a string of digits (`"3599"`), which is still taken; any other string is refused, where
 * oauth4webapi's `parseFloat` would read `"12abc"` as 12 and `"1e308"` as forever.
 */
function expiresInProblem(raw: unknown): string | undefined {
  if (raw === undefined) return undefined;
  const seconds = typeof raw === 'string' && /^[0-9]{1,10}$/.test(raw) ? Number(raw) : raw;
  if (typeof seconds !== 'number') {
    return `has an expires_in that is ${seconds === null ? 'null' : `a ${typeof seconds}`}, not a number of seconds`;
  }
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_EXPIRES_IN) {
    return `has an expires_in of ${String(seconds)}, not a whole number of seconds from 1 to ${String(MAX_EXPIRES_IN)}`;
  }
  return undefined;
}

/** The `token_type` oauth4webapi refused, read before its error (which holds the whole body) is dropped. */
function refusedTokenType(error: unknown): string | undefined {
  if (!(error instanceof oauth.UnsupportedOperationError) || typeof error.cause !== 'object')
    return undefined;
  const body = (error.cause as { body?: { token_type?: unknown } } | null)?.body;
  return typeof body?.token_type === 'string' ? body.token_type : undefined;
}

function expectedType(dpop: unknown): string {
  return dpop === undefined ? '"Bearer"' : '"DPoP" (the request carried a DPoP proof, RFC 9449 §5)';
}

/** A token response as processed, with `expires_in` as the server sent it. */
interface Exchange {
  response: Response;
  result: oauth.TokenEndpointResponse;
  rawExpiresIn: unknown;
}

/**
 * One client-credentials grant request and the processing of its answer, both by oauth4webapi:
 * `scope` and every `resource` (RFC 8707 §2.1) go in the form body, client authentication is applied
 * by `context.clientAuthentication`. The response must be a Bearer token (RFC 6750), or with
 * `context.dpop` a DPoP-bound one: any other token type would be refused by the resource server, so
 * it is refused here first.
 *
 * With DPoP, the request carries a proof (RFC 9449 §5) with the authorization server's last nonce;
 * an answer `use_dpop_nonce` with a `DPoP-Nonce` (§8) is followed by one more request with that
 * nonce, within the same deadline. A second `use_dpop_nonce` is the answer.
 *
 * This makes one attempt (two requests at most, with a nonce); retries, caching and renewal are the
 * caller's.
 *
 * @see RFC 6749 §4.4.2 (request), §4.4.3 and §5.1 (response), §5.2 (error response)
 * @see RFC 8707 §2 (resource indicators)
 * @see RFC 9449 §5 (DPoP access token request), §8 (authorization server nonce)
 */
export async function requestClientCredentialsToken(
  as: oauth.AuthorizationServer & { token_endpoint: string },
  context: TokenRequestContext,
  parameters: TokenParameters,
): Promise<IssuedToken> {
  const endpoint = as.token_endpoint;
  const client: oauth.Client = { client_id: context.clientId };
  const body = new URLSearchParams();
  if (parameters.scope !== undefined) body.set('scope', parameters.scope);
  for (const resource of parameters.resource) body.append('resource', resource);
  const dpop = await context.dpop?.binding();
  const sentAt = performance.now();
  const deadline = sentAt + context.limits.timeout;
  let response: Response | undefined;
  const exchange = async (): Promise<Exchange> => {
    const timeout = Math.ceil(deadline - performance.now());
    if (timeout <= 0)
      throw new HttpFailure('timeout', `no answer within ${String(context.limits.timeout)} ms`);
    const limits = { ...context.limits, timeout };
    const options: oauth.ClientCredentialsGrantRequestOptions = {
      [oauth.customFetch]: (url: string, init: RequestInit) => boundedFetch(url, init, limits),
      // The endpoint was vetted (https, http on loopback, or `allowInsecureHttp`) by the options or
      // by discovery, so oauth4webapi's blanket https check would only repeat it.
      // eslint-disable-next-line @typescript-eslint/no-deprecated
      [oauth.allowInsecureRequests]: new URL(endpoint).protocol === 'http:',
      DPoP: dpop?.handle,
    };
    response = undefined;
    response = await oauth.clientCredentialsGrantRequest(
      as,
      client,
      context.clientAuthentication,
      body,
      options,
    );
    // Read before oauth4webapi rewrites `expires_in`; the body is already buffered (and capped).
    const raw: unknown = await response
      .clone()
      .json()
      .catch(() => undefined);
    const result = await oauth.processClientCredentialsResponse(as, client, response);
    return { response, result, rawExpiresIn: isPlainObject(raw) ? raw['expires_in'] : undefined };
  };
  let outcome: Exchange;
  try {
    try {
      outcome = await exchange();
    } catch (error) {
      // oauth4webapi has kept the nonce of the answer for this origin; the next proof carries it.
      if (
        dpop === undefined ||
        !oauth.isDPoPNonceError(error) ||
        response === undefined ||
        !hasNewNonce(response)
      ) {
        throw error;
      }
      outcome = await exchange();
    }
  } catch (error) {
    const refusedType = refusedTokenType(error);
    if (refusedType !== undefined && response !== undefined) {
      throw invalidResponse(
        endpoint,
        response.status,
        `has ${describeTokenType(refusedType)}, not ${expectedType(dpop)}`,
      );
    }
    throw await classify(error, 'token', endpoint, response);
  }
  const { result, rawExpiresIn } = outcome;
  const { status } = outcome.response;
  // oauth4webapi lowercases token_type and accepts `bearer` and `dpop`. A DPoP-requested token
  // answered as Bearer is refused: RFC 9449 §5 lets a server without DPoP support issue a bearer
  // token, and using it would silently drop the sender constraint the client was configured for.
  if (result.token_type !== (dpop === undefined ? 'bearer' : 'dpop')) {
    throw invalidResponse(
      endpoint,
      status,
      `has ${describeTokenType(result.token_type)}, not ${expectedType(dpop)}`,
    );
  }
  // The token goes into an Authorization header: a CR LF would split it (and undici's refusal
  // quotes the whole header value, token included). The message never shows the token.
  if (!ACCESS_TOKEN.test(result.access_token)) {
    throw invalidResponse(
      endpoint,
      status,
      'has an access_token with characters outside %x20-7E (RFC 6749 Appendix A.12)',
    );
  }
  const problem = expiresInProblem(rawExpiresIn);
  if (problem !== undefined) throw invalidResponse(endpoint, status, problem);
  return {
    accessToken: result.access_token,
    scope: result.scope,
    expiresIn: result.expires_in ?? context.defaultExpiresIn,
    defaulted: result.expires_in === undefined,
    sentAt,
  };
}
