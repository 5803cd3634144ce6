import { FleetConfigError, portsFromEnv, type Ports } from './config.js';
import { describeExit, startFleet, type Fleet } from './fleet.js';
import { PortInUseError } from './ports.js';

// `npm start`: the whole fleet on 127.0.0.1, stopped cleanly with Ctrl-C. It exits non-zero, with a
// message naming the variable, port or service, when it cannot start or when a service stops.
const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

let ports: Ports;
let fleet: Fleet;
try {
  ports = portsFromEnv();
  fleet = await startFleet({ ports });
} catch (error) {
  const known = error instanceof FleetConfigError || error instanceof PortInUseError;
  console.error(`The fleet did not start: ${known ? error.message : message(error)}`);
  process.exit(1);
}

const line = (label: string, name: keyof Fleet['urls'], rest = ''): string =>
  `  ${label.padEnd(22)}${fleet.urls[name].padEnd(24)}pid ${String(fleet.pids[name]).padEnd(8)}${rest}`.trimEnd();
console.log(`
bearer-guard example fleet is up (issuer ${fleet.issuer}):
${line('authorization server', 'authorization-server')}
${line('gateway', 'gateway', 'GET /patients/123/summary (scope summary:read)')}
${line('orders service', 'orders-service', 'GET /orders?patient=123 (scope orders:read)')}
${line('FHIR service', 'fhir-service', 'GET /metadata, /Patient/123, /Observation?patient=123')}

Try it:  npm run demo   or   npm run demo:smart      (Ctrl-C here stops every service)
`);

let stopping = false;
const stop = (code: number): void => {
  if (stopping) return;
  stopping = true;
  console.log('Stopping the fleet…');
  void fleet.stop().then(() => process.exit(code));
};
process.on('SIGINT', () => {
  stop(0);
});
process.on('SIGTERM', () => {
  stop(0);
});
// One service gone leaves a fleet that answers half its requests: stop the rest and say which.
void fleet.unexpectedExit.then((exit) => {
  if (stopping) return;
  console.error(`The fleet stopped: ${describeExit(exit)}; stopping the other services.`);
  stop(1);
});
