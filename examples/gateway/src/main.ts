import { GatewayConfigError, loadConfig, start, type GatewayConfig } from './app.js';

// `npm start` / the fleet: configuration from the environment, a wrong variable stops here.
let config: GatewayConfig;
try {
  config = loadConfig();
} catch (error) {
  console.error(error instanceof GatewayConfigError ? error.message : String(error));
  process.exit(1);
}
const gateway = await start(config).catch((error: unknown) => {
  console.error(`The gateway did not start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
console.log(`Gateway on ${gateway.url} (issuer ${config.issuer}, audience ${config.audience})`);
console.log(`Backends: orders ${config.ordersUrl}, FHIR ${config.fhirUrl}`);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void gateway.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
