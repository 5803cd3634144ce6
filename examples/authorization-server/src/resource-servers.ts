// The fleet's resource servers (RFC 8707 resource indicators) and which client may get tokens for
// which of them, with which scopes. Each backend has its own audience, so a token minted for one
// backend is refused by the others.
import type { AuthorizationServerConfig } from './config.js';
import { errors, type OidcClient, type OidcContext } from './oidc-provider.js';

export type ResourceServerName = 'gateway' | 'orders' | 'fhir';

export interface ResourceServerDefinition {
  /** `jwt`: an RFC 9068 `at+jwt` signed with ES256, validated from the JWKS. `opaque`: introspect it. */
  format: 'jwt' | 'opaque';
  /** Every scope the resource server understands. */
  scopes: readonly string[];
}

/** SMART App Launch v2 scopes (`.rs` = read + search) and v1 ones (`.read`), plus the launch context. */
const SMART_PATIENT_SCOPES = [
  'launch/patient',
  'openid',
  'fhirUser',
  'patient/Patient.read',
  'patient/Patient.rs',
  'patient/Observation.read',
  'patient/Observation.rs',
  'patient/*.read',
  'patient/*.rs',
] as const;
const SMART_SYSTEM_SCOPES = ['system/Patient.rs', 'system/Observation.rs'] as const;

export const RESOURCE_SERVERS: Readonly<Record<ResourceServerName, ResourceServerDefinition>> = {
  gateway: { format: 'jwt', scopes: ['summary:read', 'summary:write'] },
  orders: { format: 'jwt', scopes: ['orders:read', 'orders:write'] },
  fhir: {
    format: 'opaque',
    scopes: [...SMART_PATIENT_SCOPES, 'user/Patient.rs', 'user/Observation.rs', ...SMART_SYSTEM_SCOPES],
  },
};

/**
 * Which client may ask for tokens for which resource server, and the scopes it may get there. A
 * request for any other pair fails with `invalid_target`; requested scopes outside the list are left
 * out of the token (RFC 6749 §3.3 lets the server narrow the scope; the response then says which
 * scope was granted).
 */
export const CLIENT_ACCESS: Readonly<Record<string, Partial<Record<ResourceServerName, readonly string[]>>>> =
  {
    gateway: {
      gateway: RESOURCE_SERVERS.gateway.scopes,
      orders: RESOURCE_SERVERS.orders.scopes,
      fhir: SMART_SYSTEM_SCOPES,
    },
    'demo-client': { gateway: RESOURCE_SERVERS.gateway.scopes },
    'backend-services': { fhir: SMART_SYSTEM_SCOPES },
    'smart-app': { fhir: SMART_PATIENT_SCOPES },
  };

function resourceServerNamed(
  config: AuthorizationServerConfig,
  resource: string,
): ResourceServerName | undefined {
  const names = Object.keys(config.audiences) as ResourceServerName[];
  return names.find((name) => config.audiences[name] === resource);
}

/** The audiences `clientId` may request. */
export function audiencesFor(config: AuthorizationServerConfig, clientId: string): string[] {
  const access = CLIENT_ACCESS[clientId] ?? {};
  return (Object.keys(access) as ResourceServerName[]).map((name) => config.audiences[name]);
}

/** The `features.resourceIndicators` configuration of the provider. */
export function resourceIndicators(config: AuthorizationServerConfig): Record<string, unknown> {
  return {
    enabled: true,
    /**
     * Without a `resource` parameter, a client with a single resource server gets a token for it;
     * SMART apps name the FHIR server with `aud` (SMART App Launch §2.0.5), taken here as the
     * resource indicator. Any other client must say which resource it wants: a token without an
     * audience would be accepted by no backend of the fleet.
     */
    defaultResource(ctx: OidcContext, client: OidcClient, oneOf?: string[]): string | string[] {
      if (oneOf !== undefined) return oneOf;
      const aud = ctx.oidc?.params?.['aud'];
      if (typeof aud === 'string' && aud !== '') return aud;
      const [only, ...others] = audiencesFor(config, client.clientId);
      if (only === undefined || others.length > 0) {
        throw new errors.InvalidTarget('the resource parameter (RFC 8707) is required for this client');
      }
      return only;
    },
    // The token request of the authorization-code grant may omit `resource`: use the one granted.
    useGrantedResource: () => true,
    getResourceServerInfo(_ctx: OidcContext, resource: string, client: OidcClient): Record<string, unknown> {
      const name = resourceServerNamed(config, resource);
      if (name === undefined) throw new errors.InvalidTarget('unknown resource indicator');
      const scopes = CLIENT_ACCESS[client.clientId]?.[name];
      if (scopes === undefined) {
        throw new errors.InvalidTarget('this client may not request access tokens for this resource');
      }
      const { format } = RESOURCE_SERVERS[name];
      return {
        audience: resource,
        scope: scopes.join(' '),
        accessTokenTTL: config.accessTokenTtl,
        accessTokenFormat: format,
        ...(format === 'jwt' ? { jwt: { sign: { alg: 'ES256' } } } : {}),
      };
    },
  };
}
