import * as oauth from 'oauth4webapi';
import { TokenRequestError } from './errors.js';
import { boundedFetch, type FetchLimits } from './internal/bounded-fetch.js';
import { classify } from './internal/classify.js';
import type { TokenParameters } from './token-parameters.js';

/** What one token request needs besides the parameters. */
export interface TokenRequestContext {
  clientId: string;
  clientAuthentication: oauth.ClientAuth;
  limits: FetchLimits;
  /** Lifetime assumed when the response has no `expires_in`, in seconds. */
  defaultExpiresIn: number;
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

/** The `token_type` oauth4webapi refused, read before its error (which holds the whole body) is dropped. */
function refusedTokenType(error: unknown): string | undefined {
  if (!(error instanceof oauth.UnsupportedOperationError) || typeof error.cause !== 'object')
    return undefined;
  const body = (error.cause as { body?: { token_type?: unknown } } | null)?.body;
  return typeof body?.token_type === 'string' ? body.token_type : undefined;
}

/**
 * One client-credentials grant request and the processing of its answer, both by oauth4webapi:
 * `scope` and every `resource` (RFC 8707 §2.1) go in the form body, client authentication is applied
 * by `context.clientAuthentication`. The response must be a Bearer token (RFC 6750): a `DPoP` or
 * other token type would be refused by the resource server, so it is refused here first.
 *
 * This makes exactly one attempt; retries, caching and renewal are the caller's.
 *
 * @see RFC 6749 §4.4.2 (request), §4.4.3 and §5.1 (response), §5.2 (error response)
 * @see RFC 8707 §2 (resource indicators)
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
  const options: oauth.ClientCredentialsGrantRequestOptions = {
    [oauth.customFetch]: (url: string, init: RequestInit) => boundedFetch(url, init, context.limits),
    // The endpoint was vetted (https, http on loopback, or `allowInsecureHttp`) by the options or by
    // discovery, so oauth4webapi's blanket https check would only repeat it.
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    [oauth.allowInsecureRequests]: new URL(endpoint).protocol === 'http:',
  };
  const sentAt = performance.now();
  let response: Response | undefined;
  let result: oauth.TokenEndpointResponse;
  try {
    response = await oauth.clientCredentialsGrantRequest(
      as,
      client,
      context.clientAuthentication,
      body,
      options,
    );
    result = await oauth.processClientCredentialsResponse(as, client, response);
  } catch (error) {
    const refusedType = refusedTokenType(error);
    if (refusedType !== undefined && response !== undefined) {
      throw invalidResponse(endpoint, response.status, `has token_type "${refusedType}", not "Bearer"`);
    }
    throw await classify(error, 'token', endpoint, response);
  }
  const { status } = response;
  // oauth4webapi lowercases token_type and accepts `dpop` too; only Bearer is usable here.
  if (result.token_type !== 'bearer') {
    throw invalidResponse(endpoint, status, `has token_type "${result.token_type}", not "Bearer"`);
  }
  if (result.expires_in !== undefined && result.expires_in <= 0) {
    throw invalidResponse(endpoint, status, 'has an expires_in of 0: the token is already expired');
  }
  return {
    accessToken: result.access_token,
    scope: result.scope,
    expiresIn: result.expires_in ?? context.defaultExpiresIn,
    defaulted: result.expires_in === undefined,
    sentAt,
  };
}
