import {
  authenticate,
  protectedResourceMetadata,
  requireSmartScope,
  type AuthenticateMiddleware,
} from '@bearer-guard/express';
import {
  createServiceApp,
  REDIS_KEY_PREFIX,
  sharedReplayStore,
  type RedisClient,
} from '@bearer-guard/example-shared';
import { redisIntrospectionStore } from '@bearer-guard/redis';
import type { Express, NextFunction, Request, Response } from 'express';
import { AuthorizationServerMetadataSource } from './authorization-server-metadata.js';
import type { FhirConfig } from './config.js';
import { OBSERVATIONS, observationPatient, PATIENTS } from './fhir-data.js';
import { fhirErrorHandler, sendOutcome, sendResource } from './operation-outcome.js';
import { fhirId, SearchError, searchObservations, searchPatients, searchsetBundle } from './search.js';
import { capabilityStatement, SCOPES_SUPPORTED, smartConfiguration } from './smart-discovery.js';

/** The app and what a caller may need besides it. */
export interface FhirApp {
  readonly app: Express;
  /** The bearer-guard middleware (`auth.guard.on(…)` for operator events such as `introspection.failed`). */
  readonly auth: AuthenticateMiddleware;
  /**
   * Discover the introspection endpoint and fetch the authorization server's metadata now; rejects
   * when either cannot be had, so a misconfigured service fails at start-up.
   */
  readonly ready: () => Promise<void>;
}

/** Options of {@link createApp} beyond the configuration. */
export interface FhirAppOptions {
  /** Where unexpected errors and upstream failures are logged. Defaults to `console.error`. */
  log?: ((message: string, error: unknown) => void) | undefined;
  /**
   * A connected Redis client (`REDIS_URL`): the introspection cache and the rate limit are then
   * shared with the other replicas. Requires `config.introspectionCacheKey`.
   */
  redis?: RedisClient | undefined;
}

/** How long a replica keeps a cached answer in its own memory before asking Redis again, at most. */
const LOCAL_CACHE_MS = 5000;

/**
 * The introspection cache shared by the replicas (`@bearer-guard/redis`): one replica's answer
 * serves the others. Its in-memory level never keeps an answer longer than the cache bound, so a
 * revocation is seen by every replica within `FHIR_INTROSPECTION_CACHE_SECONDS`.
 */
function sharedIntrospectionStore(config: FhirConfig, redis: RedisClient) {
  if (config.introspectionCacheKey === undefined) {
    throw new TypeError('fhir-service: a Redis client needs config.introspectionCacheKey');
  }
  return redisIntrospectionStore({
    client: redis,
    hmacKey: config.introspectionCacheKey,
    keyPrefix: `${REDIS_KEY_PREFIX}introspection:fhir-service:`,
    localTtl: Math.min(LOCAL_CACHE_MS, config.introspectionCacheSeconds * 1000),
    // Redis on the same host answers in well under a millisecond; a second gives a busy laptop
    // (or CI) room before a read counts as a miss and the authorization server is asked again.
    timeout: 1000,
  });
}

const searchErrors = (error: unknown, _req: Request, res: Response, next: NextFunction): void => {
  if (error instanceof SearchError) sendOutcome(res, 400, error.code, error.message);
  else next(error);
};

/**
 * A FHIR R4-flavoured read-only API (`application/fhir+json`). Tokens are opaque to it: each one is
 * checked by RFC 7662 introspection at `config.issuer` and must name `config.audience`, so a caller
 * that goes around the gateway is refused just the same. Access follows SMART App Launch scopes:
 * `patient/` scopes reach only the token's `patient`, `user/` and `system/` scopes any patient.
 * DPoP-bound tokens need their proof (RFC 9449); bearer tokens are accepted too. `/health`,
 * `/metadata`, `/.well-known/smart-configuration` and the RFC 9728 metadata are open. Every error is an
 * OperationOutcome; bearer-guard's keep their status and `WWW-Authenticate` / `Retry-After`.
 *
 * Nothing listens here: see {@link start} (and `main.ts`).
 */
export function createApp(config: FhirConfig, options: FhirAppOptions = {}): FhirApp {
  const { redis } = options;
  const auth = authenticate({
    issuer: config.issuer,
    audience: config.audience,
    allowInsecureHttp: config.allowInsecureHttp,
    // DPoP-bound tokens (the gateway's, RFC 9449) are checked against a proof for `baseUrl` + path;
    // bearer tokens (SMART apps, backend services) are still taken.
    publicUrl: config.baseUrl,
    dpop: {
      required: false,
      ...(redis === undefined ? {} : { replayStore: sharedReplayStore(redis, 'fhir-service') }),
    },
    introspection: {
      clientId: config.introspectionClientId,
      clientSecret: config.introspectionSecret,
      endpoint: config.introspectionEndpoint,
      cache: { maxSeconds: config.introspectionCacheSeconds },
      ...(redis === undefined ? {} : { store: sharedIntrospectionStore(config, redis) }),
      // By default JWTs from the issuer (tokens for other APIs) are checked locally, with the keys
      // at the discovered jwks_uri, and refused for their audience (node-oidc-provider will not
      // introspect them); opaque tokens are introspected.
    },
  });
  const metadata = new AuthorizationServerMetadataSource(config.issuer);
  const { baseUrl, introspectionEndpoint } = config;
  const app = createServiceApp({
    service: 'fhir-service',
    redis,
    rateLimitPerMinute: config.rateLimitPerMinute,
    rateLimited: {
      handler: (_req, res) => {
        sendOutcome(res, 429, 'throttled', 'Too many requests. Try again later.');
      },
    },
  });

  app.get('/metadata', async (_req, res) => {
    sendResource(res, 200, capabilityStatement(baseUrl, await metadata.get(), introspectionEndpoint));
  });
  app.get('/.well-known/smart-configuration', async (_req, res) => {
    res.json(smartConfiguration(await metadata.get(), introspectionEndpoint));
  });

  // RFC 9728: the resource's own metadata, open like /metadata.
  app.use(protectedResourceMetadata(auth, { scopesSupported: SCOPES_SUPPORTED, resourceName: 'FHIR R4' }));
  app.use(auth);

  app.get('/Patient/:id', requireSmartScope('Patient', 'r'), (req, res) => {
    const found = PATIENTS.find((resource) => resource.id === req.params['id']);
    if (found === undefined) sendOutcome(res, 404, 'not-found', 'No Patient with this id.');
    else sendResource(res, 200, found);
  });
  // A search by `_id` is in that patient's compartment; without `_id` only user/ and system/ scopes reach it.
  const patientSearched = (req: Request): string | undefined => fhirId(req.query['_id']);
  app.get('/Patient', requireSmartScope('Patient', 's', { patientId: patientSearched }), (req, res) => {
    sendResource(res, 200, searchsetBundle(baseUrl, req, searchPatients(req, PATIENTS)));
  });

  // A read by id: the compartment is the Observation's subject. An unknown id has none, so a
  // patient/ scope gets 403 rather than learning from a 404 which ids exist.
  const observationOwner = (req: Request): string | undefined => {
    const found = OBSERVATIONS.find((resource) => resource.id === req.params['id']);
    return found === undefined ? undefined : observationPatient(found);
  };
  app.get(
    '/Observation/:id',
    requireSmartScope('Observation', 'r', { patientId: observationOwner }),
    (req, res) => {
      const found = OBSERVATIONS.find((resource) => resource.id === req.params['id']);
      if (found === undefined) sendOutcome(res, 404, 'not-found', 'No Observation with this id.');
      else sendResource(res, 200, found);
    },
  );
  // The default compartment: `patient=123`, `patient=Patient/123` or `subject=Patient/123`.
  app.get('/Observation', requireSmartScope('Observation', 's'), (req, res) => {
    sendResource(res, 200, searchsetBundle(baseUrl, req, searchObservations(req, OBSERVATIONS)));
  });

  app.use(searchErrors);
  app.use((_req, res) => {
    sendOutcome(res, 404, 'not-found', 'There is no such resource type or operation here.');
  });
  app.use(fhirErrorHandler(options.log));
  return {
    app,
    auth,
    ready: async () => {
      await auth.ready();
      await metadata.get();
    },
  };
}
