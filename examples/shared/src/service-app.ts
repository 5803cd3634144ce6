import express, { type Express } from 'express';
import { rateLimit, type Options as RateLimitOptions } from 'express-rate-limit';
import helmet from 'helmet';
import { metricsHandler } from './metrics.js';
import { redisRateLimitStore, type RedisClient } from './redis.js';
import { requestLogging } from './request-log.js';

export interface ServiceAppOptions {
  /** The service's name in its logs; with it, one JSON line per request (request-log.ts) and `traceparent` support. */
  service?: string | undefined;
  /**
   * Whether a caller's `traceparent` is the parent of this service's spans (request-log.ts).
   * Defaults to `true` (a backend, called by the gateway); `false` for a service callers on the
   * internet reach, which starts a new trace instead.
   */
  trustTraceparent?: boolean | undefined;
  /** Requests per client IP and minute, `/health` excepted. */
  rateLimitPerMinute: number;
  /** How a request over the limit is answered: a `handler`, or a `message` sent with status 429. */
  rateLimited: Partial<Pick<RateLimitOptions, 'handler' | 'message'>>;
  /**
   * Count the rate limit in Redis (rate-limit-redis), shared by every replica of `service`.
   * Defaults to express-rate-limit's memory store: this process only.
   */
  redis?: RedisClient | undefined;
}

/**
 * An Express app with what every example service starts with: no `X-Powered-By`, helmet's
 * headers, an open `GET /health` and `GET /metrics` (Prometheus, see metrics.ts), then a rate limit per client IP for everything after it (before
 * authentication, so a flood of junk tokens costs neither crypto nor calls to the authorization
 * server). The service adds its routes.
 */
export function createServiceApp({
  service,
  trustTraceparent = true,
  rateLimitPerMinute,
  rateLimited,
  redis,
}: ServiceAppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(helmet());
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/metrics', metricsHandler());
  // After the probes (a health check every second would drown the log), before everything else.
  if (service !== undefined) app.use(requestLogging(service, { trustTraceparent }));
  app.use(
    rateLimit({
      windowMs: 60_000,
      limit: rateLimitPerMinute,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      // A Redis that stops answering (each command has a deadline) lets requests through, logged,
      // rather than failing every request: the limit is a guard against floods, not against replays,
      // and the DPoP replay store stays fail-closed (503).
      ...(redis === undefined
        ? {}
        : { store: redisRateLimitStore(redis, service ?? 'service'), passOnStoreError: true }),
      ...rateLimited,
    }),
  );
  return app;
}
