import type { AuthorizationServerMetadata } from './authorization-server-metadata.js';
import { FHIR_JSON } from './operation-outcome.js';

/** The SMART scopes this server understands, in v2 form with the v1 equivalents older apps ask for. */
export const SCOPES_SUPPORTED = [
  'openid',
  'fhirUser',
  'launch/patient',
  'offline_access',
  'patient/Patient.rs',
  'patient/Observation.rs',
  'user/Patient.rs',
  'user/Observation.rs',
  'system/Patient.rs',
  'system/Observation.rs',
  'patient/Patient.read',
  'patient/Observation.read',
  'user/Patient.read',
  'user/Observation.read',
  'system/Patient.read',
  'system/Observation.read',
] as const;

/** SMART App Launch 2.x capabilities. @see https://hl7.org/fhir/smart-app-launch/STU2/conformance.html#capabilities */
export const CAPABILITIES = [
  'launch-standalone',
  'client-public',
  'client-confidential-symmetric',
  'context-standalone-patient',
  'permission-patient',
  'permission-user',
  'permission-v1',
  'permission-v2',
] as const;

const OAUTH_URIS = 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris';
const SECURITY_SERVICE = 'http://terminology.hl7.org/CodeSystem/restful-security-service';

/**
 * `GET /.well-known/smart-configuration`: the authorization server's endpoints as this FHIR server
 * advertises them. `introspection_endpoint` is the configured one when set, else the issuer's.
 *
 * @see SMART App Launch 2.x §Conformance, https://hl7.org/fhir/smart-app-launch/STU2/conformance.html
 */
export function smartConfiguration(
  metadata: AuthorizationServerMetadata,
  introspectionEndpoint: string | undefined,
): Record<string, unknown> {
  return {
    issuer: metadata.issuer,
    jwks_uri: metadata.jwks_uri,
    authorization_endpoint: metadata.authorization_endpoint,
    token_endpoint: metadata.token_endpoint,
    introspection_endpoint: introspectionEndpoint ?? metadata.introspection_endpoint,
    grant_types_supported: metadata.grant_types_supported ?? ['authorization_code', 'client_credentials'],
    token_endpoint_auth_methods_supported: metadata.token_endpoint_auth_methods_supported,
    response_types_supported: ['code'],
    scopes_supported: SCOPES_SUPPORTED,
    capabilities: CAPABILITIES,
    code_challenge_methods_supported: ['S256'],
  };
}

const SEARCH = [{ code: 'search-type' }] as const;
const READ_SEARCH = [{ code: 'read' }, ...SEARCH] as const;

/**
 * `GET /metadata`: the CapabilityStatement, with the SMART security service and the `oauth-uris`
 * extension (authorize, token and introspect URLs from the authorization server's metadata).
 *
 * @see FHIR R4 CapabilityStatement, SMART App Launch 2.x §FHIR Authorization Endpoint and Capabilities Discovery
 */
export function capabilityStatement(
  baseUrl: string,
  metadata: AuthorizationServerMetadata,
  introspectionEndpoint: string | undefined,
): Record<string, unknown> {
  const uris: [string, string | undefined][] = [
    ['authorize', metadata.authorization_endpoint],
    ['token', metadata.token_endpoint],
    ['introspect', introspectionEndpoint ?? metadata.introspection_endpoint],
  ];
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2025-01-01',
    kind: 'instance',
    software: { name: 'bearer-guard example fhir-service' },
    implementation: { description: 'bearer-guard example FHIR server (demo data)', url: baseUrl },
    fhirVersion: '4.0.1',
    format: [FHIR_JSON, 'json'],
    rest: [
      {
        mode: 'server',
        security: {
          cors: false,
          service: [
            {
              coding: [{ system: SECURITY_SERVICE, code: 'SMART-on-FHIR', display: 'SMART-on-FHIR' }],
              text: 'OAuth 2.0 bearer tokens with SMART App Launch scopes, validated by token introspection',
            },
          ],
          extension: [
            {
              url: OAUTH_URIS,
              extension: uris
                .filter((entry): entry is [string, string] => entry[1] !== undefined)
                .map(([url, valueUri]) => ({ url, valueUri })),
            },
          ],
        },
        resource: [
          {
            type: 'Patient',
            interaction: READ_SEARCH,
            searchParam: [{ name: '_id', type: 'token' }],
          },
          {
            type: 'Observation',
            interaction: READ_SEARCH,
            searchParam: [
              { name: 'patient', type: 'reference' },
              { name: 'subject', type: 'reference' },
              { name: 'category', type: 'token' },
              { name: 'code', type: 'token' },
            ],
          },
        ],
      },
    ],
  };
}
