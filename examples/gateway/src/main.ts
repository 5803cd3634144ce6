import { runService } from '@bearer-guard/example-shared';
import { loadConfig, start } from './app.js';

// `npm start` / the fleet: configuration from the environment, a wrong variable stops here.
await runService({
  loadConfig: () => loadConfig(),
  start: (config) => start(config),
  notStarted: 'The gateway did not start',
  started: (gateway, config) => [
    `Gateway on ${gateway.url} (issuer ${config.issuer}, audience ${config.audience})`,
    `Backends (round-robin): orders ${config.ordersUrls.join(', ')}; FHIR ${config.fhirUrls.join(', ')}`,
    config.redisUrl === undefined
      ? 'rate limit: in memory (this process only)'
      : 'rate limit: shared in Redis (REDIS_URL)',
  ],
});
