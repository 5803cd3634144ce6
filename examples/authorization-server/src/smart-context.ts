// SMART App Launch launch context: a token granted `launch/patient` for the FHIR server carries the
// patient the user picked. Here the "pick" is a fixed demo mapping from the signed-in account.
//
// The `patient` value goes to three places:
//  - the access token's extra claims (`extraTokenClaims`), which the provider stores with opaque
//    tokens and returns from introspection (RFC 7662), and puts in JWT access tokens;
//  - the token endpoint response, as SMART App Launch §2.0.8 requires ("patient": "123"): the
//    provider has no option for extra token-response members, so a Koa post-middleware copies the
//    value from the access token it has just issued;
//  - the ID token's `fhirUser` claim, `<FHIR base>/Patient/<id>`.
import type { AuthorizationServerConfig } from './config.js';
import type { KoaMiddleware, OidcContext, OidcToken } from './oidc-provider.js';

/** Demo accounts and their patient: `alice` → `123`, anyone else → `456`. */
export function patientFor(accountId: string): string {
  return accountId === 'alice' ? '123' : '456';
}

export interface Account {
  accountId: string;
  claims(): Promise<Record<string, unknown>>;
}

/**
 * `findAccount` for the provider. The development login pages accept any login name, and every
 * name is an account.
 */
export function findAccount(config: AuthorizationServerConfig) {
  return (_ctx: OidcContext, accountId: string): Promise<Account> =>
    Promise.resolve({
      accountId,
      claims: () =>
        Promise.resolve({
          sub: accountId,
          fhirUser: `${config.audiences.fhir}/Patient/${patientFor(accountId)}`,
        }),
    });
}

function hasScope(token: OidcToken, scope: string): boolean {
  return token.scope?.split(' ').includes(scope) ?? false;
}

/**
 * `extraTokenClaims` for the provider: `{ patient }` for a user's token for the FHIR server that
 * was granted `launch/patient`, nothing for other tokens.
 */
export function launchContextClaims(config: AuthorizationServerConfig) {
  return (_ctx: OidcContext | undefined, token: OidcToken): Promise<Record<string, string> | undefined> => {
    const forFhir = token.resourceServer?.audience === config.audiences.fhir;
    if (token.accountId === undefined || !forFhir || !hasScope(token, 'launch/patient')) {
      return Promise.resolve(undefined);
    }
    return Promise.resolve({ patient: patientFor(token.accountId) });
  };
}

const USER_GRANTS = new Set(['authorization_code', 'refresh_token']);

/** Adds the access token's launch context to a successful token endpoint response. */
export const tokenResponseLaunchContext: KoaMiddleware = async (ctx, next) => {
  await next();
  if (ctx.oidc?.route !== 'token' || ctx.status !== 200) return;
  const grantType = ctx.oidc.params?.['grant_type'];
  if (typeof grantType !== 'string' || !USER_GRANTS.has(grantType)) return;
  const patient = ctx.oidc.entities['AccessToken']?.extra?.['patient'];
  if (typeof patient === 'string' && typeof ctx.body === 'object' && ctx.body !== null) {
    ctx.body = { ...ctx.body, patient };
  }
};
