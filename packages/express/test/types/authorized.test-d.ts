/**
 * Type tests (compiled by `npm run typecheck`, never run): after `authenticate()`, a handler wrapped
 * in `authorized()` sees `req.auth` as a definite `Principal` (and the route parameters it is
 * told); everywhere else `req.auth` stays optional.
 */
import {
  authenticate,
  authorized,
  requireScopes,
  type AuthenticatedRequest,
  type JwtPrincipal,
  type Principal,
} from '@bearer-guard/express';
import express, { type Response } from 'express';

const app = express();
app.use(authenticate({ issuer: 'https://as.example.com', audience: 'https://orders.example.com' }));

app.get(
  '/orders/:id',
  requireScopes('orders:read'),
  authorized<{ id: string }>((req, res) => {
    const principal: Principal = req.auth;
    const id: string = req.params.id;
    res.json({
      id,
      subject: principal.subject,
      expires: principal.expiresAt?.toISOString(),
      // @ts-expect-error -- the handler was told of `:id` only
      other: req.params.other,
    });
  }),
);

// An async handler: Express 5 forwards its rejection.
app.post(
  '/orders',
  authorized(async (req, res) => {
    await Promise.resolve();
    res.status(201).json({ by: req.auth.clientId });
  }),
);

// A named handler typed with the exported request type.
function listOrders(req: AuthenticatedRequest, res: Response): void {
  res.json({ caller: req.auth.subject });
}
app.get('/mine', authorized(listOrders));

// Without authorized(), req.auth is optional: the compiler asks for the check.
app.get('/plain', (req, res) => {
  // @ts-expect-error -- TS18048: req.auth is possibly undefined
  res.json({ caller: req.auth.subject });
});

// `source` tells the two kinds apart; a JWT always has `exp`.
export function expiry(principal: Principal): Date | undefined {
  if (principal.source === 'jwt') {
    const jwt: JwtPrincipal = principal;
    return jwt.expiresAt;
  }
  // @ts-expect-error -- an introspection answer may lack `exp`
  const definite: Date = principal.expiresAt;
  return definite;
}

// @ts-expect-error -- authorized() needs a handler
authorized('orders:read');
