import { DEV_INTROSPECTION_SECRET, FhirConfigError, loadFhirConfig, type FhirConfig } from './config.js';
import { start } from './server.js';

// `node dist/main.js`: the FHIR service as the fleet (and its container) runs it.
let config: FhirConfig;
try {
  config = loadFhirConfig();
} catch (error) {
  console.error(error instanceof FhirConfigError ? error.message : error);
  process.exit(1);
}
if (config.introspectionSecret === DEV_INTROSPECTION_SECRET) {
  console.warn(
    'fhir-service: using the development-only FHIR_INTROSPECTION_SECRET; set it outside development.',
  );
}

const service = await start(config).catch((error: unknown) => {
  console.error(`fhir-service did not start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
console.log(`fhir-service on ${service.url} (base URL ${config.baseUrl}, issuer ${config.issuer})`);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void service.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
