import {
  authenticate,
  errorHandler,
  requireAnyScope,
  requireScopes,
  type AuthenticatedRequest,
} from '@bearer-guard/express';
import express, { type Express } from 'express';

export interface QuickstartOptions {
  issuer: string;
  audience: string;
  jwksUri?: string | undefined;
}

/**
 * The README's quick start as a runnable app: every route needs a valid token for `audience`,
 * `/orders` needs `orders:read`, `/reports` needs `reports:read` or `admin`.
 */
export function createApp(options: QuickstartOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.use(authenticate({ issuer: options.issuer, audience: options.audience, jwksUri: options.jwksUri }));
  app.get('/orders', requireScopes('orders:read'), (req, res) => {
    const { auth } = req as AuthenticatedRequest;
    res.json({ caller: auth.subject, client: auth.clientId, orders: [{ id: 'o-1', total: 42 }] });
  });
  app.get('/reports', requireAnyScope('reports:read', 'admin'), (_req, res) => {
    res.json({ reports: [] });
  });
  app.use(errorHandler());
  return app;
}
