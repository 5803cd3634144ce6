/**
 * `@bearer-guard/testkit`: a real authorization-server stub on `127.0.0.1` for testing OAuth 2.0
 * resource servers, with discovery documents, a rotatable JWKS, token minting, deliberately
 * invalid tokens and failure switches.
 *
 * @packageDocumentation
 */

export { startAuthorizationServer } from './authorization-server-stub.js';
export { WRONG_AUDIENCE, WRONG_ISSUER } from './bad-tokens.js';
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
