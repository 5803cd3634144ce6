/**
 * `@bearer-guard/testkit`: a real authorization-server stub on `127.0.0.1` for testing OAuth 2.0
 * resource servers, with discovery documents, a rotatable JWKS, token minting, deliberately
 * invalid tokens, an RFC 7662 token introspection endpoint and failure switches.
 *
 * @packageDocumentation
 */

export { startAuthorizationServer } from './start-authorization-server.js';
export { accessTokenHash, createDpopProof, generateDpopKey } from './dpop.js';
export type { DpopAlgorithm, DpopKey, DpopProofOptions } from './dpop.js';
export { WRONG_AUDIENCE, WRONG_ISSUER } from './bad-tokens.js';
export { JWT_BEARER_ASSERTION_TYPE } from './client-authentication.js';
export {
  DEFAULT_INTROSPECTION_CLIENT,
  INTROSPECTION_JWT_MEDIA_TYPE,
  INTROSPECTION_JWT_TYP,
} from './introspection-endpoint.js';
export type {
  IntrospectionAuthAttempt,
  IntrospectionAuthMethod,
  IntrospectionClient,
  IntrospectionRequestRecord,
  IssueOpaqueTokenOptions,
  JsonWebKeySet,
  RegisterClientOptions,
  StubIntrospection,
} from './introspection-types.js';
export type {
  AddKeyOptions,
  AuthorizationServerStub,
  BadTokenFactory,
  BadTokens,
  EndpointBehaviour,
  EndpointName,
  RotateKeysOptions,
  SignOptions,
  StartAuthorizationServerOptions,
  StubAlgorithm,
  StubCounters,
  TokenClaims,
} from './types.js';
