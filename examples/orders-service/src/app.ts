import {
  authenticate,
  errorHandler,
  protectedResourceMetadata,
  requireScopes,
  type AuthenticatedRequest,
  type AuthenticateMiddleware,
} from '@bearer-guard/express';
import { createServiceApp } from '@bearer-guard/example-shared';
import express, { type ErrorRequestHandler, type Express, type Request, type Response } from 'express';
import type { OrdersConfig } from './config.js';
import { OrderStore, validateNewOrder, type ValidationDetail } from './orders.js';

/** The app and what a caller may need besides it. */
export interface OrdersApp {
  readonly app: Express;
  /** The bearer-guard middleware (`auth.guard.on(…)` for operator events). */
  readonly auth: AuthenticateMiddleware;
  /** Discover the issuer and load its keys now; rejects with a `ConfigurationError` when it cannot. */
  readonly ready: () => Promise<void>;
}

function invalidRequest(res: Response, details: ValidationDetail[]): void {
  res.status(400).json({ error: 'invalid_request', details });
}

/** `?patient=123` as one string; `undefined` when absent; `null` when repeated or empty. */
function patientFilter(req: Request): string | undefined | null {
  const { patient } = req.query;
  if (patient === undefined) return undefined;
  return typeof patient === 'string' && patient !== '' ? patient : null;
}

/**
 * Body-parser errors (malformed JSON, too large, unsupported charset) carry a 4xx `status` and
 * `expose`; they are the client's fault and answered as such, with a fixed message.
 */
const finalErrorHandler: ErrorRequestHandler = (error: unknown, _req, res, next) => {
  if (res.headersSent) {
    next(error);
    return;
  }
  const { status, type } = (error ?? {}) as { status?: unknown; type?: unknown };
  if (type === 'entity.parse.failed') {
    invalidRequest(res, [{ path: '', message: 'is not valid JSON.' }]);
    return;
  }
  if (typeof status === 'number' && status >= 400 && status < 500) {
    res.status(status).json({ error: status === 413 ? 'request_too_large' : 'invalid_request' });
    return;
  }
  console.error('orders-service: unhandled error', error);
  res.status(500).json({ error: 'server_error' });
};

/**
 * The orders API. Every route but `/health` and the RFC 9728 metadata needs a DPoP-bound JWT access
 * token from `config.issuer` for `config.audience` with a proof carrying a server nonce (RFC 9449),
 * validated here against the issuer's keys: a caller that goes around the gateway is refused just
 * the same, and a bearer token (a DPoP-bound one included) is refused. `GET` routes need
 * `orders:read`, `POST /orders` `orders:write`.
 *
 * Nothing listens here: see {@link start} (and `main.ts`).
 */
export function createApp(config: OrdersConfig): OrdersApp {
  const auth = authenticate({
    issuer: config.issuer,
    audience: config.audience,
    jwksUri: config.jwksUri,
    allowInsecureHttp: config.allowInsecureHttp,
    // Only DPoP-bound tokens (RFC 9449): a token copied off the wire is useless without the
    // gateway's private key. Nonces bound each proof to the last minute or two (§9).
    publicUrl: config.publicUrl,
    dpop: { required: true, nonce: { secret: config.dpopNonceSecret } },
  });
  const orders = new OrderStore();
  // The rate limit comes before authenticating: junk tokens cost neither crypto nor JWKS fetches.
  const app = createServiceApp({
    service: 'orders-service',
    rateLimitPerMinute: config.rateLimitPerMinute,
    rateLimited: {
      handler: (_req, res) => {
        res.status(429).json({ error: 'rate_limited' });
      },
    },
  });
  // RFC 9728: what a client needs to call this API (issuer, scopes, DPoP), before authenticating.
  app.use(
    protectedResourceMetadata(auth, {
      scopesSupported: ['orders:read', 'orders:write'],
      resourceName: 'Orders',
    }),
  );
  app.use(auth);

  app.get('/orders', requireScopes('orders:read'), (req, res) => {
    const patient = patientFilter(req);
    if (patient === null) {
      invalidRequest(res, [{ path: 'patient', message: 'must be given once, as a non-empty string.' }]);
      return;
    }
    res.json({ orders: orders.list(patient) });
  });

  app.get('/orders/:id', requireScopes('orders:read'), (req, res) => {
    const { id } = req.params;
    const order = typeof id === 'string' ? orders.get(id) : undefined;
    if (order === undefined) {
      res.status(404).json({ error: 'not_found' });
      return;
    }
    res.json(order);
  });

  // The scope is checked before the body is even parsed.
  app.post(
    '/orders',
    requireScopes('orders:write'),
    express.json({ limit: '16kb', strict: true, type: 'application/json' }),
    (req, res) => {
      if (req.is('application/json') !== 'application/json') {
        invalidRequest(res, [{ path: '', message: 'must be sent with Content-Type: application/json.' }]);
        return;
      }
      const result = validateNewOrder(req.body);
      if ('problems' in result) {
        invalidRequest(res, result.problems);
        return;
      }
      const { auth: principal } = req as AuthenticatedRequest;
      const created = orders.create(result.order, principal.clientId ?? principal.subject);
      res
        .status(201)
        .location(`/orders/${encodeURIComponent(created.id)}`)
        .json(created);
    },
  );

  app.use(errorHandler());
  app.use((_req, res) => {
    res.status(404).json({ error: 'not_found' });
  });
  app.use(finalErrorHandler);
  return { app, auth, ready: () => auth.ready() };
}
