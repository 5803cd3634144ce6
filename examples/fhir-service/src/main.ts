import { runService } from '@bearer-guard/example-shared';
import { DEV_INTROSPECTION_CACHE_KEY, DEV_INTROSPECTION_SECRET, loadFhirConfig } from './config.js';
import { start } from './server.js';

// `node dist/main.js`: the FHIR service as the fleet (and its container) runs it.
await runService({
  loadConfig: () => loadFhirConfig(),
  configured: (config) => {
    if (config.introspectionSecret === DEV_INTROSPECTION_SECRET) {
      console.warn(
        'fhir-service: using the development-only FHIR_INTROSPECTION_SECRET; set it outside development.',
      );
    }
    if (config.introspectionCacheKey === DEV_INTROSPECTION_CACHE_KEY) {
      console.warn(
        'fhir-service: using the development-only FHIR_INTROSPECTION_CACHE_KEY; set it outside development.',
      );
    }
  },
  start: (config) => start(config),
  notStarted: 'fhir-service did not start',
  started: (service, config) => [
    `fhir-service on ${service.url} (base URL ${config.baseUrl}, issuer ${config.issuer})`,
    config.redisUrl === undefined
      ? 'introspection cache and rate limit: in memory (this process only)'
      : 'introspection cache and rate limit: shared in Redis (REDIS_URL)',
  ],
});
