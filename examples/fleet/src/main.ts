import { FleetConfigError, portsFromEnv, type Ports } from './config.js';
import { startFleet, type Fleet } from './fleet.js';
import { PortInUseError } from './ports.js';
import { BACKENDS, redisAddress } from './replicas.js';
import { describeExit } from './service-process.js';

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

const LABELS = {
  'authorization-server': 'authorization server',
  gateway: 'gateway',
  'orders-service': 'orders service',
  'fhir-service': 'FHIR service',
} as const;
const ROUTES = {
  'authorization-server': '',
  gateway: 'GET /patients/123/summary (scope summary:read)',
  'orders-service': 'GET /orders?patient=123 (scope orders:read)',
  'fhir-service': 'GET /metadata, /Patient/123, /Observation?patient=123',
} as const;
const replicated = fleet.redisUrl !== undefined;
const lines = fleet.instances.map(({ service, replica, url, pid }) => {
  const label =
    replicated && (BACKENDS as readonly string[]).includes(service)
      ? `${LABELS[service]} ${String(replica)}`
      : LABELS[service];
  return `  ${label.padEnd(22)}${url.padEnd(24)}pid ${String(pid).padEnd(8)}${ROUTES[service]}`.trimEnd();
});
const stores =
  fleet.redisUrl === undefined
    ? `Stores: in memory, one process per service (introspection cache, DPoP replay, rate limits,
authorization-server grants). Set REDIS_URL=redis://127.0.0.1:6379 to run two replicas of each
backend behind the gateway, sharing every store in Redis.`
    : `Stores: Redis at ${redisAddress(fleet.redisUrl)}, shared by every process: introspection cache and
DPoP replay (@bearer-guard/redis), rate limits (rate-limit-redis), authorization-server grants
and revocations. Two replicas of each backend; the gateway takes them in turn.`;
console.log(`
bearer-guard example fleet is up (issuer ${fleet.issuer}):
${lines.join('\n')}

${stores}

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
