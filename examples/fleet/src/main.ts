import { portsFromEnv } from './config.js';
import { startFleet } from './fleet.js';

// `npm start`: the whole fleet on 127.0.0.1, stopped cleanly with Ctrl-C.
let ports;
try {
  ports = portsFromEnv();
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
const fleet = await startFleet({ ports }).catch((error: unknown) => {
  console.error(`The fleet did not start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
console.log(`
bearer-guard example fleet is up:
  authorization server  ${fleet.urls['authorization-server']}
  gateway               ${fleet.urls.gateway}      GET /patients/123/summary (scope summary:read)
  orders service        ${fleet.urls['orders-service']}
  FHIR service          ${fleet.urls['fhir-service']}      GET /metadata, /Patient/123, /Observation?patient=123

Try it:  npm run demo      (Ctrl-C here stops every service)
`);
let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  console.log('Stopping the fleet…');
  void fleet.stop().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
