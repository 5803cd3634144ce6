import { runService } from '@bearer-guard/example-shared';
import { DEV_DPOP_NONCE_SECRET, loadOrdersConfig } from './config.js';
import { start } from './server.js';

// `node dist/main.js`: the orders service as the fleet (and its container) runs it.
await runService({
  loadConfig: () => loadOrdersConfig(),
  configured: (config) => {
    if (config.dpopNonceSecret === DEV_DPOP_NONCE_SECRET) {
      console.warn(
        'orders-service: using the development-only ORDERS_DPOP_NONCE_SECRET; set it outside development.',
      );
    }
  },
  start: (config) => start(config),
  notStarted: 'orders-service did not start',
  started: (service, config) => [
    `orders-service on ${service.url} (issuer ${config.issuer}, audience ${config.audience})`,
  ],
});
