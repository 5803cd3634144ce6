import { runService } from '@bearer-guard/example-shared';
import { loadConfig, start } from './app.js';

// `npm start` / the fleet: configuration from the environment, a wrong variable stops here.
await runService({
  loadConfig: () => loadConfig(),
  start: (config) => start(config),
  notStarted: 'The gateway did not start',
  started: (gateway, config) => [
    `Gateway on ${gateway.url} (issuer ${config.issuer}, audience ${config.audience})`,
    `Backends: orders ${config.ordersUrl}${config.ordersReplicaUrls.length === 0 ? '' : ` (replicas in turn: ${config.ordersReplicaUrls.join(', ')})`}, FHIR ${config.fhirUrl}${config.fhirReplicaUrls.length === 0 ? '' : ` (replicas in turn: ${config.fhirReplicaUrls.join(', ')})`}`,
    config.redisUrl === undefined
      ? 'rate limit: in memory (this process only)'
      : 'rate limit: shared in Redis (REDIS_URL)',
  ],
});
