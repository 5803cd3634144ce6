import { createAuthorizedFetch, type TokenFetch } from './authorized-fetch.js';
import {
  payloadUrl,
  tokenRequestChannel,
  traceTokenRequest,
  type TokenRequestMessage,
} from './diagnostics.js';
import { discoverAuthorizationServer, type AuthorizationServerMetadata } from './discovery.js';
import { TokenRequestError } from './errors.js';
import {
  TokenClientEvents,
  type RenewalReason,
  type TokenClientEventListener,
  type TokenClientEventName,
} from './events.js';
import { raceAbort } from './internal/abort.js';
import { invalid, isPlainObject, rejectUnknownKeys } from './internal/validate.js';
import { resolveOptions, type TokenClientOptions } from './options.js';
import { withRetry } from './retry.js';
import { TokenCache, toCachedToken, type CachedToken } from './token-cache.js';
import {
  normalizeResource,
  normalizeScope,
  parametersKey,
  type TokenParameters,
} from './token-parameters.js';
import {
  requestClientCredentialsToken,
  type IssuedToken,
  type TokenRequestContext,
} from './token-request.js';

/** An access token as handed to callers. Field names follow RFC 6749 §5.1. */
export interface AccessToken {
  readonly access_token: string;
  /** `DPoP` with the `dpop` option (send it as `Authorization: DPoP` with a proof), else `Bearer`. */
  readonly token_type: 'Bearer' | 'DPoP';
  /** Whole seconds until the client stops using the token (rounded down). */
  readonly expires_in: number;
  /** When the client stops using the token, in epoch milliseconds. */
  readonly expiresAt: number;
  /** The granted scope when the server named it (RFC 6749 §5.1), else `undefined`. */
  readonly scope: string | undefined;
}

/** Which token to get. Each field left out takes the client's default; `''` or `[]` asks for none. */
export interface TokenSelection {
  scope?: string | readonly string[] | undefined;
  resource?: string | readonly string[] | undefined;
}

export interface GetTokenOptions extends TokenSelection {
  /** Get a new token even when a valid one is cached. Defaults to `false`. */
  forceRenewal?: boolean | undefined;
  /** Stop waiting (the shared token request itself goes on for other callers). */
  signal?: AbortSignal | undefined;
}

/** A client-credentials token client. Every member is a plain function: `const { fetch } = tokens` works. */
export interface TokenClient {
  /** A valid access token for the default (or given) scope and resource. */
  readonly getToken: (options?: GetTokenOptions) => Promise<AccessToken>;
  /** `fetch` with the default token (and a DPoP proof) attached, one renewal on `invalid_token`, one retry on `use_dpop_nonce`. */
  readonly fetch: TokenFetch;
  /** A `fetch` like {@link TokenClient.fetch} for another scope or resource, e.g. a second backend. */
  readonly fetchFor: (selection: TokenSelection) => TokenFetch;
  /** Drop the cached token for the default (or given) scope and resource. */
  readonly invalidate: (selection?: TokenSelection) => void;
  /** Listen to `token.renewed`, `token.failed` and `token.retrying`. */
  readonly on: <E extends TokenClientEventName>(
    name: E,
    listener: TokenClientEventListener<E>,
  ) => TokenClient;
  readonly off: <E extends TokenClientEventName>(
    name: E,
    listener: TokenClientEventListener<E>,
  ) => TokenClient;
}

const SELECTION_KEYS = { scope: true, resource: true } as const;
const ARGUMENT = 'ERR_TOKEN_CLIENT_INVALID_ARGUMENT';

/**
 * Create a client that obtains access tokens with the OAuth 2.0 client-credentials grant and
 * attaches them to outgoing calls. Options are validated here; a wrong one throws a
 * `TokenClientConfigurationError` naming it. Nothing is fetched until the first token is needed.
 *
 * One token is cached per (scope, resource) combination. It is renewed in the background when
 * less than the renewal margin remains, concurrent callers share one request, and an expired token
 * is never handed out. While the server is down, a cached token that is still valid keeps being
 * used; without one, calls fail with a `TokenRequestError` and no request goes out without a token.
 * Discovery and token requests each have a deadline and are retried with backoff after outages.
 *
 * With `dpop`, tokens are DPoP-bound (RFC 9449): each token request and each `fetch` carries a new
 * proof signed with the client's key, server nonces are kept per origin, and one `use_dpop_nonce`
 * answer per request is retried with the nonce it gave.
 *
 * It does not refresh metadata after discovery succeeded, check the token's audience or scope, or
 * keep tokens across processes.
 *
 * @example
 * ```ts
 * const tokens = createTokenClient({
 *   issuer: 'https://as.example',
 *   clientId: 'gateway',
 *   clientSecret: process.env.GATEWAY_SECRET,
 *   scope: 'orders:read',
 *   resource: 'https://orders.example',
 * });
 * const res = await tokens.fetch('https://orders.example/orders?patient=123');
 * ```
 *
 * @see RFC 6749 §4.4 (client-credentials grant)
 * @see RFC 8707 §2 (resource indicators)
 * @see RFC 7523 §2.2 (`private_key_jwt`)
 * @see RFC 6750 §2.1, §3.1 (sending the token; `invalid_token`)
 * @see RFC 9449 (DPoP)
 */
export function createTokenClient(options: TokenClientOptions): TokenClient {
  const resolved = resolveOptions(options);
  const events = new TokenClientEvents();
  const cache = new TokenCache();
  const limits = { timeout: resolved.timeout, maxBytes: resolved.maxResponseBytes };
  const context: TokenRequestContext = {
    clientId: resolved.clientId,
    clientAuthentication: resolved.clientAuthentication.apply,
    limits,
    defaultExpiresIn: resolved.defaultExpiresIn,
    dpop: resolved.dpop,
  };
  const { issuer, tokenEndpoint } = resolved;

  let metadata: Promise<AuthorizationServerMetadata> | undefined;
  const authorizationServer = (): Promise<AuthorizationServerMetadata> => {
    if (tokenEndpoint !== undefined) {
      return Promise.resolve({ issuer: issuer ?? tokenEndpoint, token_endpoint: tokenEndpoint });
    }
    // Shared by every (scope, resource) slot; a failure is forgotten so the next attempt rediscovers.
    if (metadata === undefined) {
      const discovery = discoverAuthorizationServer(issuer ?? '', {
        limits,
        allowInsecureHttp: resolved.allowInsecureHttp,
      });
      discovery.catch(() => {
        if (metadata === discovery) metadata = undefined;
      });
      metadata = discovery;
    }
    return metadata;
  };

  const acquire =
    (parameters: TokenParameters, key: string) =>
    async (reason: RenewalReason): Promise<CachedToken> => {
      const target = { scope: parameters.scope, resource: parameters.resource };
      let attempt = 0;
      const request = async (message?: TokenRequestMessage): Promise<IssuedToken> => {
        const as = await authorizationServer();
        if (message !== undefined) {
          message.endpoint = payloadUrl(as.token_endpoint);
          message.jkt = (await resolved.dpop?.binding())?.jkt;
        }
        return requestClientCredentialsToken(as, context, parameters);
      };
      const outcome = await withRetry(
        () => {
          attempt += 1;
          if (!tokenRequestChannel.hasSubscribers) return request();
          const message: TokenRequestMessage = {
            issuer,
            endpoint: payloadUrl(tokenEndpoint),
            grantType: 'client_credentials',
            attempt,
            outcome: undefined,
            code: undefined,
            status: undefined,
            jkt: undefined,
          };
          return traceTokenRequest(message, () => request(message));
        },
        resolved.retry,
        (error) => error instanceof TokenRequestError && error.retryable,
        ({ attempt, delay, error }) => {
          events.emit('token.retrying', { ...target, reason, attempt, delay, error });
        },
      );
      const fail = (error: unknown): never => {
        const servingCachedToken = cache.peek(key) !== undefined;
        events.emit('token.failed', {
          ...target,
          reason,
          error,
          attempts: outcome.attempts,
          servingCachedToken,
        });
        throw error;
      };
      if (!outcome.ok) return fail(outcome.error);
      const token = toCachedToken(outcome.value, resolved.renewalMargin);
      if (performance.now() >= token.expiresAt) {
        // A lifetime shorter than the round trip (a 1 s token on a slow link): refused, never handed out expired.
        return fail(
          new TokenRequestError('ERR_TOKEN_CLIENT_INVALID_RESPONSE', 'the token expired before it arrived', {
            step: 'token',
            endpoint: tokenEndpoint ?? issuer,
          }),
        );
      }
      const { expiresIn, defaulted } = outcome.value;
      const jkt = (await resolved.dpop?.binding())?.jkt;
      const attempts = outcome.attempts;
      events.emit('token.renewed', { ...target, reason, expiresIn, defaulted, attempts, jkt });
      return token;
    };

  const select = (path: string, selection: unknown): TokenParameters => {
    if (selection === undefined) return resolved.defaults;
    if (!isPlainObject(selection)) throw invalid(path, selection, 'an object', { code: ARGUMENT });
    const scope = selection['scope'];
    const resource = selection['resource'];
    return {
      scope: scope === undefined ? resolved.defaults.scope : normalizeScope(`${path}.scope`, scope, ARGUMENT),
      resource:
        resource === undefined
          ? resolved.defaults.resource
          : normalizeResource(`${path}.resource`, resource, ARGUMENT),
    };
  };

  const tokenFor = (parameters: TokenParameters, force = false): Promise<CachedToken> => {
    const key = parametersKey(parameters);
    return cache.get(key, acquire(parameters, key), { force });
  };

  const fetchWith = (parameters: TokenParameters): TokenFetch =>
    createAuthorizedFetch(
      {
        token: async (signal) => (await raceAbort(tokenFor(parameters), signal)).accessToken,
        refuse: (accessToken) => cache.refuse(parametersKey(parameters), accessToken),
      },
      resolved.allowInsecureHttp,
      resolved.dpop,
    );

  const client: TokenClient = {
    getToken: async (getOptions) => {
      const path = 'getToken(options)';
      if (isPlainObject(getOptions)) {
        rejectUnknownKeys(path, getOptions, { ...SELECTION_KEYS, forceRenewal: true, signal: true });
      }
      const parameters = select(path, getOptions);
      const force = getOptions?.forceRenewal ?? false;
      if (typeof force !== 'boolean') {
        throw invalid(`${path}.forceRenewal`, force, '`true` or `false`', { code: ARGUMENT });
      }
      const signal = getOptions?.signal;
      if (signal !== undefined && !(signal instanceof AbortSignal)) {
        throw invalid(`${path}.signal`, signal, 'an AbortSignal', { code: ARGUMENT });
      }
      const token = await raceAbort(tokenFor(parameters, force), signal);
      const remaining = Math.max(0, token.expiresAt - performance.now());
      return {
        access_token: token.accessToken,
        token_type: resolved.dpop === undefined ? 'Bearer' : 'DPoP',
        expires_in: Math.floor(remaining / 1000),
        expiresAt: Math.round(Date.now() + remaining),
        scope: token.scope,
      };
    },
    fetch: fetchWith(resolved.defaults),
    fetchFor: (selection) => {
      if (isPlainObject(selection)) rejectUnknownKeys('fetchFor(selection)', selection, SELECTION_KEYS);
      return fetchWith(select('fetchFor(selection)', selection));
    },
    invalidate: (selection) => {
      cache.invalidate(parametersKey(select('invalidate(selection)', selection)));
    },
    on: (name, listener) => {
      events.on(name, listener);
      return client;
    },
    off: (name, listener) => {
      events.off(name, listener);
      return client;
    },
  };
  return client;
}
