import { CLIENT_ASSERTION_ALGORITHMS } from './client-authentication.js';
import type { StubAlgorithm } from './types.js';

/** Every URL the stub serves or advertises. */
export interface StubUrls {
  readonly origin: string;
  readonly issuer: string;
  readonly jwksUri: string;
  readonly oauthMetadataUrl: string;
  readonly openidConfigurationUrl: string;
  readonly authorizationEndpoint: string;
  readonly tokenEndpoint: string;
  readonly introspectionEndpoint: string;
  readonly attackerJwksUri: string;
}

/** Checks `issuerPath`: empty, or an absolute path without query, fragment, whitespace or backslash. */
export function validateIssuerPath(issuerPath: string): void {
  if (issuerPath !== '' && (!issuerPath.startsWith('/') || /[?#\\\s]/.test(issuerPath))) {
    throw new TypeError(
      `testkit: issuerPath must be '' or a path starting with '/' (no query, fragment or whitespace), got ${JSON.stringify(issuerPath)}`,
    );
  }
}

/**
 * Lays out the URLs for a stub at `origin` with the issuer `origin + issuerPath`.
 *
 * The well-known URLs drop a trailing `/` of the issuer path: RFC 8414 §3.1 inserts
 * `/.well-known/oauth-authorization-server` between host and path, OpenID Connect Discovery §4
 * appends `/.well-known/openid-configuration` to the issuer.
 */
export function buildStubUrls(origin: string, issuerPath: string): StubUrls {
  validateIssuerPath(issuerPath);
  const path = issuerPath.replace(/\/+$/, '');
  return {
    origin,
    issuer: origin + issuerPath,
    jwksUri: `${origin}${path}/jwks`,
    oauthMetadataUrl: `${origin}/.well-known/oauth-authorization-server${path}`,
    openidConfigurationUrl: `${origin}${path}/.well-known/openid-configuration`,
    authorizationEndpoint: `${origin}/authorize`,
    tokenEndpoint: `${origin}/token`,
    introspectionEndpoint: `${origin}/introspect`,
    attackerJwksUri: `${origin}/attacker-jwks`,
  };
}

/** What the metadata documents are built from, at request time. */
export interface MetadataInput {
  readonly urls: StubUrls;
  /** Algorithms of the published keys. */
  readonly signingAlgorithms: readonly StubAlgorithm[];
  /** Merged last; `undefined` members disappear when the document is serialized. */
  readonly overrides: Readonly<Record<string, unknown>>;
}

function commonMetadata(input: MetadataInput): Record<string, unknown> {
  const { urls } = input;
  return {
    issuer: urls.issuer,
    authorization_endpoint: urls.authorizationEndpoint,
    token_endpoint: urls.tokenEndpoint,
    introspection_endpoint: urls.introspectionEndpoint,
    jwks_uri: urls.jwksUri,
    response_types_supported: ['code'],
    grant_types_supported: ['authorization_code', 'client_credentials', 'refresh_token'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    introspection_endpoint_auth_methods_supported: [
      'client_secret_basic',
      'client_secret_post',
      'private_key_jwt',
    ],
    introspection_endpoint_auth_signing_alg_values_supported: [...CLIENT_ASSERTION_ALGORITHMS],
    // RFC 9701 §6: JWT responses are signed by the default signing key, a published key.
    introspection_signing_alg_values_supported: [...input.signingAlgorithms],
  };
}

/** RFC 8414 authorization server metadata. */
export function oauthMetadataDocument(input: MetadataInput): Record<string, unknown> {
  return { ...commonMetadata(input), ...input.overrides };
}

/** OpenID Connect Discovery 1.0 provider metadata. */
export function openidConfigurationDocument(input: MetadataInput): Record<string, unknown> {
  return {
    ...commonMetadata(input),
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [...input.signingAlgorithms],
    ...input.overrides,
  };
}
