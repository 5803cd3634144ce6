export { extractBearerToken } from './bearer-token.js';
export type { ResourceRequest, TokenLocations } from './bearer-token.js';
export { discoverAuthorizationServer, DiscoveryError } from './discovery.js';
export type { AuthorizationServerMetadata, DiscoveryOptions } from './discovery.js';
export { BearerGuardError, ConfigurationError, ERROR_TABLE, isBearerGuardError } from './errors.js';
export type {
  AnyBearerGuardErrorCode,
  BearerErrorCode,
  BearerErrorName,
  BearerGuardErrorOptions,
  ConfigurationErrorCode,
} from './errors.js';
export type { GuardEventListener, GuardEventMap, GuardEventName } from './events.js';
export { BearerGuard, createGuard } from './guard.js';
export { RemoteKeySet } from './jwks.js';
export type { KeySetLoadTrigger, RemoteKeySetOptions } from './jwks.js';
export { RFC9068_REQUIRED_CLAIMS } from './jwt-access-token.js';
export { DEFAULT_ALGORITHMS, resolveOptions, SUPPORTED_ALGORITHMS } from './options.js';
export type { GuardOptions, IssuerOptions, JwsAlgorithm, ResolvedOptions } from './options.js';
export type { Principal } from './principal.js';
export { matchScopes, readScopes, requiredScopes } from './scope.js';
export { bearerChallenge, quoteString } from './www-authenticate.js';
export type { BearerChallengeParameters } from './www-authenticate.js';
