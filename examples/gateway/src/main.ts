import { runService } from '@bearer-guard/example-shared';
import { loadConfig, start } from './app.js';

// `npm start` / the fleet: configuration from the environment, a wrong variable stops here.
await runService({
  loadConfig: () => loadConfig(),
  start: (config) => start(config),
  notStarted: 'The gateway did not start',
  started: (gateway, config) => [
    `Gateway on ${gateway.url} (issuer ${config.issuer}, audience ${config.audience})`,
    `Backends: orders ${config.ordersUrl}, FHIR ${config.fhirUrl}`,
  ],
});
