// The fleet's clients, registered statically (RFC 7591 client metadata). Which resource servers and
// scopes each one may get is in resource-servers.ts.
import type { JWK } from 'jose';
import type { AuthorizationServerConfig } from './config.js';

export const CLIENT_IDS = {
  gateway: 'gateway',
  backendServices: 'backend-services',
  fhirService: 'fhir-service',
  demoClient: 'demo-client',
  smartApp: 'smart-app',
} as const;

const machineClient = { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] };

export function clients(
  config: AuthorizationServerConfig,
  backendServicesKey: JWK,
): Record<string, unknown>[] {
  return [
    {
      // The API gateway: calls the orders and FHIR services with its own tokens.
      ...machineClient,
      client_id: CLIENT_IDS.gateway,
      client_secret: config.secrets.gateway,
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      // SMART Backend Services: authenticates with a JWT signed by its own key (RFC 7523 §2.2).
      ...machineClient,
      client_id: CLIENT_IDS.backendServices,
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES256',
      jwks: { keys: [backendServicesKey] },
    },
    {
      // The FHIR service's credentials for introspection (RFC 7662 §2.1); it gets no tokens.
      client_id: CLIENT_IDS.fhirService,
      client_secret: config.secrets.fhirIntrospection,
      grant_types: [],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      // An external caller of the gateway, for the demo.
      ...machineClient,
      client_id: CLIENT_IDS.demoClient,
      client_secret: config.secrets.demoClient,
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      // A public SMART app: authorization code + PKCE, no secret (SMART App Launch §2.0.1).
      client_id: CLIENT_IDS.smartApp,
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [config.smartRedirectUri],
    },
  ];
}
