import * as oauth from 'oauth4webapi';
import { TokenRequestError } from './errors.js';
import { boundedFetch, type FetchLimits } from './internal/bounded-fetch.js';
import { classify } from './internal/classify.js';
import { isSecureEnough } from './internal/validate.js';

export interface DiscoveryOptions {
  limits: FetchLimits;
  allowInsecureHttp: boolean;
}

/** The metadata the client uses: the issuer and its `token_endpoint`. @see RFC 8414 §2 */
export type AuthorizationServerMetadata = oauth.AuthorizationServer & { token_endpoint: string };

function invalidMetadata(issuer: string, message: string): TokenRequestError {
  return new TokenRequestError('ERR_TOKEN_CLIENT_INVALID_RESPONSE', `metadata of ${issuer} ${message}`, {
    step: 'discovery',
    endpoint: issuer,
  });
}

/** The metadata's `token_endpoint`, held to the same https rule as the configured URLs. */
function checkTokenEndpoint(metadata: oauth.AuthorizationServer, options: DiscoveryOptions): string {
  const endpoint = metadata.token_endpoint;
  let url: URL | undefined;
  try {
    url = typeof endpoint === 'string' ? new URL(endpoint) : undefined;
  } catch {
    url = undefined;
  }
  if (url === undefined || endpoint === undefined) {
    throw invalidMetadata(metadata.issuer, 'has no valid token_endpoint');
  }
  if (!isSecureEnough(url, options.allowInsecureHttp) || url.username !== '' || url.password !== '') {
    throw invalidMetadata(
      metadata.issuer,
      `names a token_endpoint (${url.origin}) the client will not send credentials to; it must be https`,
    );
  }
  return endpoint;
}

/**
 * Find an issuer's `token_endpoint`: first RFC 8414 (`/.well-known/oauth-authorization-server`, the
 * issuer's path inserted per §3.1), then OpenID Connect Discovery 1.0 §4. The document's `issuer`
 * must equal the configured one exactly (RFC 8414 §3.3), or the metadata could be an impersonation.
 *
 * Requests and parsing are oauth4webapi's; this adds the deadline, the size cap and the no-redirect
 * rule. It does not retry: the caller's retry policy covers discovery and the token request alike.
 *
 * @see RFC 8414 §3
 */
export async function discoverAuthorizationServer(
  issuer: string,
  options: DiscoveryOptions,
): Promise<AuthorizationServerMetadata> {
  const issuerUrl = new URL(issuer);
  const requestOptions: oauth.DiscoveryRequestOptions = {
    [oauth.customFetch]: (url: string, init: RequestInit) => boundedFetch(url, init, options.limits),
    // The issuer's scheme was vetted by the options (https, or http on loopback / when allowed).
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    [oauth.allowInsecureRequests]: issuerUrl.protocol === 'http:',
  };
  let lastError: unknown;
  for (const algorithm of ['oauth2', 'oidc'] as const) {
    let response: Response | undefined;
    try {
      response = await oauth.discoveryRequest(issuerUrl, { ...requestOptions, algorithm });
      const metadata = await oauth.processDiscoveryResponse(issuerUrl, response);
      // oauth4webapi compares normalised URLs; RFC 8414 §3.3 wants the identical string.
      if (metadata.issuer !== issuer)
        throw invalidMetadata(issuer, `names another issuer (${metadata.issuer})`);
      return { ...metadata, token_endpoint: checkTokenEndpoint(metadata, options) };
    } catch (error) {
      lastError = await classify(error, 'discovery', issuer, response);
      // Fall through to the next location only when this one plainly is not there (404 and the
      // like); an outage would fail there too and double the wait.
      const absent =
        lastError instanceof TokenRequestError &&
        lastError.code === 'ERR_TOKEN_CLIENT_INVALID_RESPONSE' &&
        response !== undefined &&
        response.status !== 200;
      if (!absent) break;
    }
  }
  throw lastError;
}
