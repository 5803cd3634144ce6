/**
 * Type tests (compiled by `npm run typecheck`, never run): the single-issuer shape of `GuardOptions`
 * requires `issuer` and `audience`, and the top-level issuer fields exclude `issuers`, as the
 * run-time validation does.
 */
import { createGuard, type GuardOptions, type Principal } from '@bearer-guard/core';

const issuer = 'https://as.example.com';
const audience = 'https://orders.example.com';

export const accepted: GuardOptions[] = [
  { issuer, audience },
  { issuer, audience: [audience, 'https://billing.example.com'], jwksUri: `${issuer}/jwks` },
  { issuers: [{ issuer }, { issuer: 'https://other.example.com', audience }], audience },
  { issuers: [{ issuer, audience }] },
];

// @ts-expect-error -- no issuer and no issuers
createGuard({ audience });
// @ts-expect-error -- no audience
createGuard({ issuer });
// @ts-expect-error -- no audience, no issuer
createGuard({ jwksUri: `${issuer}/jwks` });
// @ts-expect-error -- audience: undefined is no audience
createGuard({ issuer, audience: undefined });
// @ts-expect-error -- a top-level issuer beside issuers
createGuard({ issuer, audience, issuers: [{ issuer }] });
// @ts-expect-error -- a top-level key source beside issuers
createGuard({ audience, jwksUri: `${issuer}/jwks`, issuers: [{ issuer }] });
// @ts-expect-error -- a misspelt option
createGuard({ issuer, audiance: audience });

export async function principalTypes(token: string): Promise<unknown[]> {
  const principal: Principal = await createGuard({ issuer, audience }).verify(token);
  // @ts-expect-error -- readonly
  principal.subject = 'someone else';
  const scopes: readonly string[] = principal.scopes;
  if (principal.source === 'jwt') {
    const exp: Date = principal.expiresAt;
    return [exp, scopes];
  }
  return [principal.expiresAt, scopes];
}
