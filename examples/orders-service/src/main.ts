import { loadOrdersConfig, OrdersConfigError, type OrdersConfig } from './config.js';
import { start } from './server.js';

// `node dist/main.js`: the orders service as the fleet (and its container) runs it.
let config: OrdersConfig;
try {
  config = loadOrdersConfig();
} catch (error) {
  console.error(error instanceof OrdersConfigError ? error.message : error);
  process.exit(1);
}

const service = await start(config).catch((error: unknown) => {
  console.error(`orders-service did not start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
console.log(`orders-service on ${service.url} (issuer ${config.issuer}, audience ${config.audience})`);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void service.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
