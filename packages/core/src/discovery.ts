import * as oauth from 'oauth4webapi';
import { discoveryChannel, tracePromise, type DiscoveryMessage } from './diagnostics.js';
import type { GuardEvents } from './events.js';
import { boundedFetch, UpstreamError, type ExchangeObserver } from './internal/fetch-json.js';
import { displayUrl, URL_PROBLEMS, urlProblem } from './internal/validate.js';

/** The authorization-server metadata fields bearer-guard reads. @see RFC 8414 §2 */
export type AuthorizationServerMetadata = oauth.AuthorizationServer;

export interface DiscoveryOptions {
  /** Deadline per request, in milliseconds. */
  timeout: number;
  /** Largest accepted metadata document, in bytes. */
  maxBytes: number;
  /** Allow `http:` (loopback or explicitly allowed issuers only; checked by the options). */
  allowHttp: boolean;
}

/** Why discovery failed: the metadata named another issuer, or no document could be fetched. */
export class DiscoveryError extends Error {
  override readonly name = 'DiscoveryError';
  constructor(
    readonly reason: 'issuer-mismatch' | 'unavailable' | 'invalid',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

// Fall through to the next well-known location only when the first one plainly is not there;
// a timeout or a refused connection means the server is down, and trying again would double the wait.
function isAbsent(error: unknown): boolean {
  if (error instanceof oauth.OperationProcessingError) return error.code !== oauth.JSON_ATTRIBUTE_COMPARISON;
  if (error instanceof oauth.ResponseBodyError) return true;
  return error instanceof UpstreamError && error.reason !== 'timeout' && error.reason !== 'network';
}

function toDiscoveryError(failures: readonly unknown[], issuer: string): DiscoveryError {
  const error = failures.at(-1);
  if (error instanceof DiscoveryError) return error;
  if (error instanceof oauth.OperationProcessingError && error.code === oauth.JSON_ATTRIBUTE_COMPARISON) {
    return new DiscoveryError('issuer-mismatch', `the metadata of ${issuer} names another issuer`, {
      cause: error,
    });
  }
  if (error instanceof UpstreamError) {
    // Both well-known locations failed: say how each did (a 404 at both usually means a wrong
    // `issuer`; a refused connection at the first means the server is down).
    const how = failures.map((each) => (each instanceof Error ? each.message : String(each)));
    return new DiscoveryError('unavailable', `metadata of ${issuer} unavailable: ${how.join('; ')}`, {
      cause: error,
    });
  }
  const why = error instanceof Error ? `: ${error.message}` : '';
  return new DiscoveryError('invalid', `metadata of ${issuer} is not valid${why}`, { cause: error });
}

/**
 * Fetch an issuer's metadata: first RFC 8414 (`/.well-known/oauth-authorization-server`, with the
 * issuer's path inserted after it per §3.1), then OpenID Connect Discovery 1.0 §4
 * (`/.well-known/openid-configuration` appended). The document's `issuer` must equal the configured
 * one exactly (RFC 8414 §3.3), or the metadata could be an impersonation.
 *
 * The request and response formats are oauth4webapi's; this adds the deadline, the size cap and the
 * no-redirect rule through its `customFetch` hook.
 *
 * @see RFC 8414 §3
 */
export async function discoverAuthorizationServer(
  issuer: string,
  options: DiscoveryOptions,
  observe?: ExchangeObserver,
): Promise<AuthorizationServerMetadata> {
  const issuerUrl = new URL(issuer);
  const limits = { timeout: options.timeout, maxBytes: options.maxBytes, observe };
  const requestOptions: oauth.DiscoveryRequestOptions = {
    // The issuer's scheme was vetted by the options (https, or http on loopback / when allowed).
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    [oauth.allowInsecureRequests]: options.allowHttp,
  };
  const failures: unknown[] = [];
  for (const algorithm of ['oauth2', 'oidc'] as const) {
    let requested = issuer;
    try {
      const response = await oauth.discoveryRequest(issuerUrl, {
        ...requestOptions,
        [oauth.customFetch]: (url: string, init: RequestInit) => {
          requested = url;
          return boundedFetch(url, init, limits);
        },
        algorithm,
      });
      // Named here, with the URL, rather than as oauth4webapi's "not a conform response": a 500
      // is an outage of the server, not a document that is wrong.
      if (response.status !== 200) {
        throw new UpstreamError('status', requested, `HTTP ${String(response.status)}`);
      }
      const metadata = await oauth.processDiscoveryResponse(issuerUrl, response);
      // oauth4webapi compares normalised URLs ("https://as/" equals "https://as"); RFC 8414 §3.3
      // wants the identical string, as the tokens' `iss` is compared exactly too.
      if (metadata.issuer !== issuer) {
        throw new DiscoveryError('issuer-mismatch', `the metadata of ${issuer} names another issuer`);
      }
      return metadata;
    } catch (error) {
      failures.push(error);
      if (!isAbsent(error)) break;
    }
  }
  throw toDiscoveryError(failures, issuer);
}

/**
 * An endpoint of an issuer's metadata (`jwks_uri`, `introspection_endpoint`), held to the rule the
 * matching option follows: https, or http on loopback or with `allowInsecureHttp`; no user name,
 * password or fragment. Metadata without it, or with one that breaks the rule, is invalid (a
 * `DiscoveryError` of reason `'invalid'`): a tampered or misconfigured document must not get keys
 * fetched, or our client credentials sent, in the clear.
 *
 * @see RFC 8414 §2, §6.1 (TLS); RFC 7662 §4 (TLS for introspection)
 */
export function metadataEndpoint(
  metadata: AuthorizationServerMetadata,
  field: 'jwks_uri' | 'introspection_endpoint',
  issuer: string,
  allowHttp: boolean,
): string {
  const url = metadata[field];
  if (typeof url !== 'string') {
    throw new DiscoveryError('invalid', `the metadata of ${issuer} has no ${field}`);
  }
  const problem = urlProblem(url, allowHttp);
  if (problem !== undefined) {
    throw new DiscoveryError(
      'invalid',
      `the ${field} ${displayUrl(url)} in the metadata of ${issuer} ${URL_PROBLEMS[problem]}`,
    );
  }
  return url;
}

/**
 * Metadata per issuer, fetched once and shared by the key set and the introspection endpoint. A
 * failure is not remembered, so the next caller (rate-limited by the key set) tries again.
 */
export class MetadataCache {
  readonly #pending = new Map<string, Promise<AuthorizationServerMetadata>>();

  constructor(
    private readonly options: DiscoveryOptions,
    private readonly events: GuardEvents,
  ) {}

  get(issuer: string): Promise<AuthorizationServerMetadata> {
    let pending = this.#pending.get(issuer);
    if (pending === undefined) {
      pending = this.#discover(issuer).then(
        (metadata) => {
          this.events.emit('discovery.loaded', { issuer, jwksUri: metadata.jwks_uri });
          return metadata;
        },
        (error: unknown) => {
          this.#pending.delete(issuer);
          this.events.emit('discovery.failed', { issuer, error });
          throw error;
        },
      );
      this.#pending.set(issuer, pending);
    }
    return pending;
  }

  /** One discovery, published on `bearer-guard:discovery` when someone listens. */
  #discover(issuer: string): Promise<AuthorizationServerMetadata> {
    if (!discoveryChannel.hasSubscribers) return discoverAuthorizationServer(issuer, this.options);
    const message: DiscoveryMessage = {
      issuer,
      url: undefined,
      outcome: undefined,
      errorType: undefined,
      status: undefined,
    };
    return tracePromise(
      discoveryChannel,
      message,
      () =>
        discoverAuthorizationServer(issuer, this.options, (url, status) => {
          message.url = url;
          message.status = status;
        }),
      (done, result) => {
        done.outcome = 'value' in result ? 'loaded' : 'failed';
        if ('error' in result) {
          const { error } = result;
          const cause = error instanceof Error ? error.cause : undefined;
          done.errorType =
            cause instanceof UpstreamError
              ? cause.reason
              : error instanceof DiscoveryError
                ? error.reason
                : 'invalid';
        }
      },
    );
  }
}
