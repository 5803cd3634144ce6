import { runService } from '@bearer-guard/example-shared';
import { loadOrdersConfig } from './config.js';
import { start } from './server.js';

// `node dist/main.js`: the orders service as the fleet (and its container) runs it.
await runService({
  loadConfig: () => loadOrdersConfig(),
  start: (config) => start(config),
  notStarted: 'orders-service did not start',
  started: (service, config) => [
    `orders-service on ${service.url} (issuer ${config.issuer}, audience ${config.audience})`,
    config.redisUrl === undefined
      ? 'rate limit: in memory (this process only)'
      : 'rate limit: shared in Redis (REDIS_URL)',
  ],
});
