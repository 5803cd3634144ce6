/**
 * `@bearer-guard/client`: access tokens for service-to-service calls with the OAuth 2.0
 * client-credentials grant (RFC 6749 §4.4): cached per scope and resource, renewed before they
 * expire, attached to `fetch`.
 */
export {
  createTokenClient,
  type AccessToken,
  type GetTokenOptions,
  type TokenClient,
  type TokenSelection,
} from './token-client.js';
export type { TokenClientOptions } from './options.js';
export type { TokenFetch } from './authorized-fetch.js';
export type { DpopAlgorithm, DpopOptions } from './dpop.js';
export type {
  ClientAssertionAlgorithm,
  PrivateKeyInput,
  TokenEndpointAuthMethod,
} from './client-authentication.js';
export {
  TokenClientConfigurationError,
  TokenRequestError,
  isTokenRequestError,
  type TokenClientConfigurationErrorCode,
  type TokenClientErrorCode,
  type TokenRequestErrorCode,
  type TokenRequestStep,
} from './errors.js';
export type {
  RenewalReason,
  TokenClientEventListener,
  TokenClientEventMap,
  TokenClientEventName,
  TokenEventTarget,
} from './events.js';
export { TOKEN_REQUEST_CHANNEL } from './diagnostics.js';
export type { TokenRequestMessage } from './diagnostics.js';
