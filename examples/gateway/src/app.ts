import { createTokenClient } from '@bearer-guard/client';
import { createServiceApp, listen, type RunningServer } from '@bearer-guard/example-shared';
import { authenticate, errorHandler, requireScopes } from '@bearer-guard/express';
import type { ErrorRequestHandler, Express, Request, Response } from 'express';
import { callBackend, type BackendClient, type BackendService, type GatewayLogger } from './backend-call.js';
import type { GatewayConfig } from './config.js';
import { mergeSummary } from './summary.js';

export { DEV_CLIENT_SECRET, GatewayConfigError, loadConfig } from './config.js';
export type { GatewayConfig } from './config.js';
export type { BackendClient, BackendService, GatewayLogger, UnavailableReason } from './backend-call.js';
export type { ObservationSummary, PatientSummary } from './fhir-summary.js';
export type { ErrorBody, PatientSummaryBody, UnavailableBackend } from './summary.js';

/** Replaceable collaborators, for tests and for embedding the gateway. */
export interface GatewayDeps {
  /** Calls the orders service with the gateway's token. Defaults to a token client for `orders:read`. */
  ordersClient?: BackendClient | undefined;
  /** Calls the FHIR service with the gateway's token. Defaults to a token client for SMART system scopes. */
  fhirClient?: BackendClient | undefined;
  /** Where backend failures are reported. Defaults to JSON lines on stderr. */
  logger?: GatewayLogger | undefined;
}

/** The scopes the gateway asks for, per backend (SMART v2 system scopes for FHIR). */
export const ORDERS_SCOPE = 'orders:read';
export const FHIR_SCOPE = 'system/Patient.rs system/Observation.rs';
/** How long a caller should wait after a 503, in seconds. */
export const RETRY_AFTER_SECONDS = 5;

const ACCEPT: Record<BackendService, string> = { orders: 'application/json', fhir: 'application/fhir+json' };

// FHIR R4 id grammar (§2.24.0.1 "id"): also keeps path and query syntax out of backend URLs.
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

const stderrLogger: GatewayLogger = {
  warn(message, details) {
    console.error(JSON.stringify({ level: 'warn', time: new Date().toISOString(), message, ...details }));
  },
};

/**
 * One client-credentials client for both backends, so discovery happens once; each backend gets
 * its own token (scope + RFC 8707 resource), cached and renewed by the client. The tokens are
 * DPoP-bound (RFC 9449) to a key generated at start-up that never leaves this process: each
 * backend call carries a new proof, and the orders service's nonces are handled by the client.
 */
function tokenClients(config: GatewayConfig): { orders: BackendClient; fhir: BackendClient } {
  const tokens = createTokenClient({
    issuer: config.issuer,
    clientId: config.clientId,
    clientSecret: config.clientSecret,
    allowInsecureHttp: config.allowInsecureHttp,
    dpop: true,
  });
  return {
    orders: { fetch: tokens.fetchFor({ scope: ORDERS_SCOPE, resource: config.ordersAudience }) },
    fhir: { fetch: tokens.fetchFor({ scope: FHIR_SCOPE, resource: config.fhirAudience }) },
  };
}

/**
 * The gateway: authenticates callers (JWTs for `config.audience`), then answers
 * `GET /patients/:id/summary` (scope `summary:read`) from the orders and FHIR services, called in
 * parallel with the gateway's own client-credentials tokens. The caller's token never leaves the
 * gateway. See the README for how backend failures shape the answer.
 *
 * Throws at construction when an option is unusable (a `ConfigurationError` from bearer-guard or a
 * `TokenClientConfigurationError` from the client), never on the first request.
 */
export function createApp(config: GatewayConfig, deps: GatewayDeps = {}): Express {
  const logger = deps.logger ?? stderrLogger;
  let builtIn: ReturnType<typeof tokenClients> | undefined;
  const defaults = (): ReturnType<typeof tokenClients> => (builtIn ??= tokenClients(config));
  const orders = deps.ordersClient ?? defaults().orders;
  const fhir = deps.fhirClient ?? defaults().fhir;
  const timeoutMs = config.backendTimeoutMs;

  const app = createServiceApp({
    service: 'gateway',
    // The edge: a caller does not choose the trace (request-log.ts); the backends trust ours.
    trustTraceparent: false,
    rateLimitPerMinute: config.rateLimitPerMinute,
    rateLimited: {
      message: { error: 'too_many_requests', error_description: 'Too many requests; retry later.' },
    },
  });
  app.use(
    authenticate({
      issuer: config.issuer,
      audience: config.audience,
      allowInsecureHttp: config.allowInsecureHttp,
    }),
  );

  app.get(
    '/patients/:id/summary',
    requireScopes('summary:read'),
    async function patientSummary(req: Request<{ id: string }>, res: Response) {
      const { id } = req.params;
      if (!FHIR_ID.test(id)) {
        res.status(400).json({
          error: 'invalid_request',
          error_description: 'The patient id must be 1 to 64 letters, digits, "-" or ".".',
        });
        return;
      }
      const patient = encodeURIComponent(id);
      const call = (client: BackendClient, service: BackendService, operation: string, url: string) =>
        callBackend(client, url, { service, operation, accept: ACCEPT[service], timeoutMs, logger });
      // In parallel: the answer takes as long as the slowest call, bounded by `timeoutMs`.
      const [ordersOutcome, patientOutcome, observationsOutcome] = await Promise.all([
        call(orders, 'orders', 'GET /orders?patient={id}', `${config.ordersUrl}/orders?patient=${patient}`),
        call(fhir, 'fhir', 'GET /Patient/{id}', `${config.fhirUrl}/Patient/${patient}`),
        call(
          fhir,
          'fhir',
          'GET /Observation?patient={id}',
          `${config.fhirUrl}/Observation?patient=${patient}`,
        ),
      ]);
      const result = mergeSummary(id, {
        orders: ordersOutcome,
        patient: patientOutcome,
        observations: observationsOutcome,
      });
      if (result.status === 503) res.set('Retry-After', String(RETRY_AFTER_SECONDS));
      res.set('Cache-Control', 'no-store').status(result.status).json(result.body);
    },
  );

  app.use((_req, res) => {
    res.status(404).json({ error: 'not_found' });
  });
  app.use(errorHandler());
  app.use(finalErrorHandler);
  return app;
}

/** Anything that is not a bearer-guard error: a plain 500 without details (they go to the log). */
const finalErrorHandler: ErrorRequestHandler = function gatewayErrorHandler(error: unknown, _req, res, next) {
  if (res.headersSent) {
    next(error);
    return;
  }
  const status = statusOf(error);
  if (status >= 500) console.error(error);
  res.status(status).json({ error: status >= 500 ? 'server_error' : 'invalid_request' });
};

/** Express's own client errors (a malformed URL, …) keep their 4xx status. */
function statusOf(error: unknown): number {
  const status =
    typeof error === 'object' && error !== null ? (error as { status?: unknown }).status : undefined;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : 500;
}

/**
 * A running gateway: `url` with the port actually bound; `close()` stops accepting connections and
 * closes open ones.
 */
export type RunningGateway = RunningServer;

/**
 * Build the gateway and listen on `config.host:config.port`.
 *
 * @example
 * const gateway = await start(loadConfig());
 * console.log(`gateway on ${gateway.url}`);
 */
export async function start(config: GatewayConfig, deps: GatewayDeps = {}): Promise<RunningGateway> {
  return listen(createApp(config, deps), { port: config.port, host: config.host, closeGraceMs: 0 });
}
