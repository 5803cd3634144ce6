// The fleet with REDIS_URL: two replicas of each backend behind the gateway, every store they share
// in that Redis. Without it, one process per service and every store in memory.
import { DEFAULT_PORTS, FleetConfigError, SERVICES, type Ports, type ServiceName } from './config.js';

/** The services that run twice with `REDIS_URL`. */
export const BACKENDS = ['orders-service', 'fhir-service'] as const;
export type Backend = (typeof BACKENDS)[number];

/** The second replica of a backend; the first keeps the service's own name. */
export type ReplicaName = `${Backend}-2`;
/** One process of the fleet. */
export type InstanceName = ServiceName | ReplicaName;

export const replicaName = (backend: Backend): ReplicaName => `${backend}-2`;

/** Default ports of the second replicas, each overridable by its variable. */
export const REPLICA_PORTS: Record<Backend, { variable: string; port: number }> = {
  'orders-service': { variable: 'ORDERS_REPLICA_PORT', port: 4201 },
  'fhir-service': { variable: 'FHIR_REPLICA_PORT', port: 4301 },
};

export type ReplicaPorts = Record<Backend, number>;

/**
 * `REDIS_URL`, checked: `redis://` or `rediss://`; `undefined` when unset or empty. A wrong value
 * is refused without being repeated (it may hold a password).
 */
export function redisUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const raw = env['REDIS_URL']?.trim();
  if (raw === undefined || raw === '') return undefined;
  const protocol = URL.parse(raw)?.protocol;
  if (protocol !== 'redis:' && protocol !== 'rediss:') {
    throw new FleetConfigError(
      'REDIS_URL',
      'must be a redis:// or rediss:// URL such as redis://127.0.0.1:6379.',
    );
  }
  return raw;
}

/** Where Redis is, for a banner: host and port, never the credentials. */
export function redisAddress(url: string): string {
  const parsed = URL.parse(url);
  return parsed === null ? 'Redis' : `${parsed.protocol}//${parsed.host}`;
}

/** The second replicas' ports (`ORDERS_REPLICA_PORT`, `FHIR_REPLICA_PORT`); each different from every other port. */
export function replicaPortsFromEnv(ports: Ports, env: NodeJS.ProcessEnv = process.env): ReplicaPorts {
  const taken = new Map<number, string>(SERVICES.map((name) => [ports[name], DEFAULT_PORTS[name].variable]));
  const result = {} as ReplicaPorts;
  for (const backend of BACKENDS) {
    const { variable, port: fallback } = REPLICA_PORTS[backend];
    const raw = env[variable]?.trim();
    const value = raw === undefined || raw === '' ? fallback : /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isInteger(value) || value < 1 || value > 65_535) {
      throw new FleetConfigError(
        variable,
        `must be a port number from 1 to 65535 (npm start needs fixed ports); got ${JSON.stringify(raw)}.`,
      );
    }
    const other = taken.get(value);
    if (other !== undefined) {
      throw new FleetConfigError(
        variable,
        `is ${String(value)}, the port of ${other} too; each process needs its own.`,
      );
    }
    taken.set(value, variable);
    result[backend] = value;
  }
  return result;
}
