import {
  resolveClientAuthentication,
  type ClientAssertionAlgorithm,
  type PrivateKeyInput,
  type ResolvedClientAuthentication,
  type TokenEndpointAuthMethod,
} from './client-authentication.js';
import type { CryptoKeyPair } from 'oauth4webapi';
import { resolveDpop, type DpopOptions, type ResolvedDpop } from './dpop.js';
import {
  booleanOption,
  configError,
  invalid,
  isPlainObject,
  nonEmptyString,
  numberOption,
  oneOf,
  rejectUnknownKeys,
  urlOption,
  type KeysEnum,
} from './internal/validate.js';
import type { RetryPolicy } from './retry.js';
import { normalizeResource, normalizeScope, type TokenParameters } from './token-parameters.js';

/**
 * Options of {@link createTokenClient}. Durations of the client's own machinery are in
 * milliseconds; `defaultExpiresIn` is in seconds like the `expires_in` it stands in for.
 */
export interface TokenClientOptions {
  /** The authorization server's issuer identifier; its `token_endpoint` is found by discovery (RFC 8414). */
  issuer?: string | undefined;
  /** The token endpoint, used as given (no discovery). One of `issuer` and `tokenEndpoint` is required. */
  tokenEndpoint?: string | undefined;
  /** This client's identifier at the authorization server. Required. */
  clientId: string;
  /** The client secret, for `client_secret_basic` (default) or `client_secret_post`. */
  clientSecret?: string | undefined;
  /** A private key for `private_key_jwt` (RFC 7523): a PKCS#8 PEM, a private JWK, a `KeyObject` or a `CryptoKey`. */
  privateKey?: PrivateKeyInput | undefined;
  /** The assertion's JWS algorithm for RSA keys. Defaults to the JWK's `alg`, else `RS256` (`PS256` for RSA-PSS); EC and Ed25519 keys imply theirs. */
  privateKeyAlgorithm?: ClientAssertionAlgorithm | undefined;
  /** The `kid` of the assertion header. Defaults to the JWK's `kid`. */
  privateKeyId?: string | undefined;
  /** Defaults to `client_secret_basic` with a secret, `private_key_jwt` with a key. */
  authMethod?: TokenEndpointAuthMethod | undefined;
  /** The assertion's `aud`: the token endpoint URL (default; SMART Backend Services require it) or the issuer. */
  clientAssertionAudience?: 'token_endpoint' | 'issuer' | undefined;
  /** Default scope of each token: a space-delimited string or a list. No scope when absent. */
  scope?: string | readonly string[] | undefined;
  /** Default RFC 8707 resource indicator(s): the backend(s) the token is for. None when absent. */
  resource?: string | readonly string[] | undefined;
  /** Renew when less than this many ms of validity remain. Defaults to 60 000 or 10 % of the lifetime, whichever is smaller. */
  renewalMargin?: number | undefined;
  /** Lifetime assumed for a token response without `expires_in`, in seconds. Defaults to `300`. */
  defaultExpiresIn?: number | undefined;
  /** Deadline of each call to the authorization server, in ms. Defaults to `5000`. */
  timeout?: number | undefined;
  /** Retries of discovery and token requests after outages (network, timeout, 5xx, 429). */
  retry?:
    | {
        /** Attempts in total, the first included. Defaults to `3`; `1` turns retrying off. */
        attempts?: number | undefined;
        /** Bound of the first backoff, in ms. Defaults to `100`. */
        minDelay?: number | undefined;
        /** Bound of any backoff, in ms. Defaults to `2000`. */
        maxDelay?: number | undefined;
      }
    | undefined;
  /** Largest accepted metadata or token response, in bytes. Defaults to `64 KiB`. */
  maxResponseBytes?: number | undefined;
  /** Allow plain `http:` beyond loopback (authorization server and `fetch` targets). Defaults to `false`. */
  allowInsecureHttp?: boolean | undefined;
  /**
   * DPoP (RFC 9449): ask for tokens bound to a key and prove possession of it on every call.
   * `true` generates a non-extractable ES256 key pair (or `{ alg }`'s); a `CryptoKeyPair` (or
   * `{ privateKey, publicKey }`) brings your own. Off by default.
   */
  dpop?: boolean | DpopOptions | CryptoKeyPair | undefined;
}

export interface ResolvedOptions {
  issuer: string | undefined;
  tokenEndpoint: string | undefined;
  clientId: string;
  clientAuthentication: ResolvedClientAuthentication;
  defaults: TokenParameters;
  renewalMargin: number | undefined;
  defaultExpiresIn: number;
  timeout: number;
  retry: RetryPolicy;
  maxResponseBytes: number;
  allowInsecureHttp: boolean;
  dpop: ResolvedDpop | undefined;
}

const KEYS: KeysEnum<TokenClientOptions> = {
  issuer: true, tokenEndpoint: true, clientId: true, clientSecret: true, privateKey: true,
  privateKeyAlgorithm: true, privateKeyId: true, authMethod: true, clientAssertionAudience: true, scope: true,
  resource: true, renewalMargin: true, defaultExpiresIn: true, timeout: true, retry: true,
  maxResponseBytes: true, allowInsecureHttp: true, dpop: true,
}; // prettier-ignore
const RETRY_KEYS: KeysEnum<NonNullable<TokenClientOptions['retry']>> = {
  attempts: true,
  minDelay: true,
  maxDelay: true,
};
const CONFIG = 'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION';

function resolveRetry(value: unknown): RetryPolicy {
  if (value !== undefined && !isPlainObject(value)) throw invalid('retry', value, 'an object');
  const raw = value ?? {};
  rejectUnknownKeys('retry', raw, RETRY_KEYS);
  const policy = {
    attempts: numberOption('retry.attempts', raw['attempts'], 3, { min: 1, max: 10 }),
    minDelay: numberOption('retry.minDelay', raw['minDelay'], 100, { max: 60_000, unit: 'ms' }),
    maxDelay: numberOption('retry.maxDelay', raw['maxDelay'], 2000, { max: 60_000, unit: 'ms' }),
  };
  if (policy.minDelay > policy.maxDelay) {
    throw configError(
      'ERR_TOKEN_CLIENT_CONFIG_CONFLICTING_OPTIONS',
      `\`retry.minDelay\` (${String(policy.minDelay)}) is larger than \`retry.maxDelay\` (${String(policy.maxDelay)}).`,
    );
  }
  return policy;
}

/** Validate every option at construction; a wrong one throws a `TokenClientConfigurationError`. */
export function resolveOptions(input: unknown): ResolvedOptions {
  if (!isPlainObject(input))
    throw invalid('options', input, 'an object such as { issuer, clientId, clientSecret }');
  rejectUnknownKeys('', input, KEYS);
  const allowInsecureHttp = booleanOption('allowInsecureHttp', input['allowInsecureHttp'], false);
  if (input['clientId'] === undefined) {
    throw configError(
      'ERR_TOKEN_CLIENT_CONFIG_MISSING_OPTION',
      '`clientId` is required: this client’s identifier at the authorization server.',
    );
  }
  if (input['issuer'] === undefined && input['tokenEndpoint'] === undefined) {
    throw configError(
      'ERR_TOKEN_CLIENT_CONFIG_MISSING_OPTION',
      'set `issuer` (the token endpoint is then discovered, RFC 8414) or `tokenEndpoint`.',
    );
  }
  const issuer =
    input['issuer'] === undefined
      ? undefined
      : urlOption('issuer', input['issuer'], allowInsecureHttp, { allowQuery: false });
  const tokenEndpoint =
    input['tokenEndpoint'] === undefined
      ? undefined
      : urlOption('tokenEndpoint', input['tokenEndpoint'], allowInsecureHttp);
  const clientAssertionAudience = oneOf(
    'clientAssertionAudience',
    input['clientAssertionAudience'] ?? 'token_endpoint',
    ['token_endpoint', 'issuer'] as const,
  );
  if (clientAssertionAudience === 'issuer' && issuer === undefined) {
    throw configError(
      'ERR_TOKEN_CLIENT_CONFIG_CONFLICTING_OPTIONS',
      '`clientAssertionAudience` is "issuer" but no `issuer` is set; set `issuer` or use "token_endpoint".',
    );
  }
  return {
    issuer,
    tokenEndpoint,
    clientId: nonEmptyString('clientId', input['clientId']),
    clientAuthentication: resolveClientAuthentication({
      clientSecret: input['clientSecret'],
      privateKey: input['privateKey'],
      privateKeyAlgorithm: input['privateKeyAlgorithm'],
      privateKeyId: input['privateKeyId'],
      authMethod: input['authMethod'],
      clientAssertionAudience,
    }),
    defaults: {
      scope: input['scope'] === undefined ? undefined : normalizeScope('scope', input['scope'], CONFIG),
      resource:
        input['resource'] === undefined ? [] : normalizeResource('resource', input['resource'], CONFIG),
    },
    renewalMargin:
      input['renewalMargin'] === undefined
        ? undefined
        : numberOption('renewalMargin', input['renewalMargin'], 0, { max: 86_400_000, unit: 'ms' }),
    defaultExpiresIn: numberOption('defaultExpiresIn', input['defaultExpiresIn'], 300, {
      min: 1,
      max: 86_400,
      unit: 'seconds',
    }),
    timeout: numberOption('timeout', input['timeout'], 5000, { min: 1, max: 120_000, unit: 'ms' }),
    retry: resolveRetry(input['retry']),
    maxResponseBytes: numberOption('maxResponseBytes', input['maxResponseBytes'], 64 * 1024, {
      min: 1024,
      max: 16 * 1024 * 1024,
      unit: 'bytes',
    }),
    allowInsecureHttp,
    dpop: resolveDpop(input['dpop']),
  };
}
