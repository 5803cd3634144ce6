export { extractAccessToken, extractBearerToken } from './bearer-token.js';
export type { PresentedToken, ResourceRequest, TokenLocations } from './bearer-token.js';
export { CHANNELS } from './diagnostics.js';
export type {
  AuthenticateMessage,
  AuthenticateOutcome,
  AuthorizeMessage,
  CacheLevel,
  CircuitStateMessage,
  DiscoveryMessage,
  IntrospectionMessage,
  KeysLoadMessage,
  TokenBinding,
} from './diagnostics.js';
export { certificateThumbprint } from './certificate-binding.js';
export type {
  CertificateHeaderFormat,
  CertificateRequest,
  CertificateSource,
} from './certificate-binding.js';
export type { Confirmation } from './confirmation.js';
export { checkDpopProof, DPOP_ALGORITHMS, jwkThumbprint, MAX_JTI_LENGTH } from './dpop-proof.js';
export type { CheckedDpopProof, DpopProofContext } from './dpop-proof.js';
export { DpopProofQuotaError, MemoryDpopReplayStore } from './dpop-replay.js';
export type { DpopReplayStore, MemoryDpopReplayStoreOptions } from './dpop-replay.js';
export { normalizeHttpUrl, requestUrl } from './request-url.js';
export type { RequestUrlSource } from './request-url.js';
export type { RequestSocket, TrustProxy } from './trusted-proxy.js';
export type { DpopOptions, MtlsOptions, ResolvedDpop, ResolvedMtls } from './sender-constraint-options.js';
export { discoverAuthorizationServer, DiscoveryError } from './discovery.js';
export type { AuthorizationServerMetadata, DiscoveryOptions } from './discovery.js';
export { BearerGuardError, ConfigurationError, ERROR_TABLE, isBearerGuardError } from './errors.js';
export type {
  AnyBearerGuardErrorCode,
  BearerErrorCode,
  BearerErrorName,
  BearerGuardErrorOptions,
  ChallengeSettings,
  ConfigurationErrorCode,
} from './errors.js';
export type { GuardEventListener, GuardEventMap, GuardEventName } from './events.js';
export { BearerGuard, createGuard } from './guard.js';
export { CircuitBreaker } from './circuit-breaker.js';
export type { CircuitBreakerOptions, CircuitState } from './circuit-breaker.js';
export { Introspector } from './introspection.js';
export type { IntrospectionFailure } from './introspection.js';
export { MemoryIntrospectionStore } from './introspection-cache.js';
export type { IntrospectionCacheEntry, IntrospectionStore } from './introspection-cache.js';
export type { IntrospectionAuthMethod, IntrospectionOptions } from './introspection-options.js';
export { checkIntrospectionClaims } from './introspection-response.js';
export { RemoteKeySet } from './jwks.js';
export type { RemoteKeySetOptions } from './jwks.js';
export type { KeySetLoadTrigger } from './jwks-fetch.js';
export { RFC9068_REQUIRED_CLAIMS } from './jwt-access-token.js';
export { DEFAULT_ALGORITHMS, resolveOptions, SUPPORTED_ALGORITHMS } from './options.js';
export type {
  GuardOptions,
  GuardSettings,
  IssuerOptions,
  JwsAlgorithm,
  MultiIssuerOptions,
  ResolvedOptions,
  SingleIssuerOptions,
} from './options.js';
export type { IntrospectionPrincipal, JwtPrincipal, Principal } from './principal.js';
export { matchScopes, readScopes, requiredScopes } from './scope.js';
export { bearerChallenge, quoteString } from './www-authenticate.js';
export type { BearerChallengeParameters } from './www-authenticate.js';
export {
  parseSmartScope,
  requiredSmartAccess,
  requireSmartAccess,
  smartAccess,
  smartChallengeScope,
  smartPatient,
} from './smart-scope.js';
export type {
  SmartContext,
  SmartInteraction,
  SmartRequest,
  SmartRequestInteraction,
  SmartScope,
} from './smart-scope.js';
