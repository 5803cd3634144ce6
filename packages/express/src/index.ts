export { authenticate } from './authenticate.js';
export { authorized } from './authorized.js';
export type { AuthenticateMiddleware } from './authenticate.js';
export { protectedResourceMetadata, protectedResourceMetadataUrl } from './protected-resource-metadata.js';
export type {
  ProtectedResourceMetadata,
  ProtectedResourceMetadataOptions,
} from './protected-resource-metadata.js';
export { errorHandler, formatErrorLine, reportServerError } from './error-handler.js';
export type { ErrorHandlerOptions, ErrorReporter } from './error-handler.js';
export { requireAudience } from './require-audience.js';
export { requireAnyScope, requireScopes } from './require-scopes.js';
export {
  BearerGuard,
  BearerGuardError,
  ConfigurationError,
  createGuard,
  DpopProofQuotaError,
  MemoryDpopReplayStore,
  MemoryIntrospectionStore,
} from '@bearer-guard/core';
export type {
  AnyBearerGuardErrorCode,
  CertificateSource,
  Confirmation,
  DpopOptions,
  DpopReplayStore,
  MemoryDpopReplayStoreOptions,
  MtlsOptions,
  TrustProxy,
  BearerErrorCode,
  BearerErrorName,
  ConfigurationErrorCode,
  GuardEventMap,
  GuardEventName,
  GuardOptions,
  GuardSettings,
  IntrospectionOptions,
  IntrospectionStore,
  IntrospectionCacheEntry,
  IssuerOptions,
  IntrospectionPrincipal,
  JwsAlgorithm,
  JwtPrincipal,
  MultiIssuerOptions,
  Principal,
  SingleIssuerOptions,
} from '@bearer-guard/core';
export type { AuthenticatedRequest, AuthorizedHandler } from './request.js';
export { defaultPatientId, requireSmartScope } from './require-smart-scope.js';
export type { SmartScopeOptions } from './require-smart-scope.js';
export { parseSmartScope, smartAccess } from '@bearer-guard/core';
export type {
  SmartContext,
  SmartInteraction,
  SmartRequest,
  SmartRequestInteraction,
  SmartScope,
} from '@bearer-guard/core';
