import { SERVICES, serviceEnvironments, serviceUrl, type Ports, type ServiceName } from './config.js';
import { assertPortsFree } from './ports.js';
import {
  BACKENDS,
  redisUrlFromEnv,
  replicaName,
  replicaPortsFromEnv,
  type Backend,
  type InstanceName,
  type ReplicaPorts,
} from './replicas.js';
import { spawnService, stopChild, waitReady, type Child, type ServiceExit } from './service-process.js';

export {
  AUDIENCES,
  DEFAULT_PORTS,
  DEV_SECRETS,
  FleetConfigError,
  SERVICES,
  issuerFromEnv,
  portsFromEnv,
  serviceEnvironments,
} from './config.js';
export type { Ports, ServiceName } from './config.js';
export { assertPortsFree, freePort, freePorts, freeReplicaPorts, PortInUseError } from './ports.js';
export { BACKENDS, REPLICA_PORTS, redisAddress, redisUrlFromEnv, replicaPortsFromEnv } from './replicas.js';
export type { Backend, InstanceName, ReplicaName, ReplicaPorts } from './replicas.js';
export { answerShared, cachedAnswers } from './demo-replicas.js';
export { describeExit } from './service-process.js';
export type { ServiceExit } from './service-process.js';

export interface FleetOptions {
  ports: Ports;
  /** Extra environment for every service (e.g. a wrong secret, to test degradation). */
  env?: NodeJS.ProcessEnv;
  /** Per-service environment overrides (both replicas of a backend get its entry). */
  serviceEnv?: Partial<Record<ServiceName, NodeJS.ProcessEnv>>;
  /**
   * With `REDIS_URL` (in `env` or this process's environment): the second replicas' ports.
   * Defaults to `ORDERS_REPLICA_PORT` / `FHIR_REPLICA_PORT`, else 4201 / 4301.
   */
  replicaPorts?: ReplicaPorts;
  /** Where service output goes; defaults to this process's stdout, prefixed. */
  log?: (service: InstanceName, line: string) => void;
  /** Deadline for each service to become healthy, in ms. Defaults to 30 000. */
  healthTimeout?: number;
}

/** One process of the fleet. */
export interface FleetInstance {
  readonly name: InstanceName;
  readonly service: ServiceName;
  /** 1, or 2 for a backend's second replica. */
  readonly replica: 1 | 2;
  readonly url: string;
  readonly pid: number;
}

export interface Fleet {
  readonly ports: Ports;
  /** Each service's URL (a backend's first replica). */
  readonly urls: Record<ServiceName, string>;
  readonly issuer: string;
  /** Each service's process id (a backend's first replica). */
  readonly pids: Record<ServiceName, number>;
  /** `REDIS_URL`, when the fleet shares its stores there and runs two replicas of each backend. */
  readonly redisUrl: string | undefined;
  /** Every process, in start order. */
  readonly instances: readonly FleetInstance[];
  /** The URLs of each backend's replicas (one without Redis, two with). */
  readonly replicas: Record<Backend, readonly string[]>;
  /**
   * Settles when a service exits without `stop()` or `stopService()` (a crash, a kill): the fleet
   * is then incomplete, and `npm start` stops the rest.
   */
  readonly unexpectedExit: Promise<ServiceExit>;
  /** Stop one process (e.g. the authorization server, to see cached validation keep working). */
  stopService(name: InstanceName): Promise<void>;
  /** Stop one process and start it again, with the same command, environment and port. */
  restartService(name: InstanceName): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Start the services as child processes (`node examples/<name>/dist/main.js`, the same command
 * their containers run), the authorization server first, and wait until each is ready (see
 * {@link waitReady}). Without `REDIS_URL`: one process per service, every store in memory. With
 * it: two replicas of each backend (the gateway takes them in turn), and every store the replicas
 * share in that Redis. Services must be built (`npm run build`).
 *
 * @throws {FleetConfigError} for an environment the fleet cannot honour (see `serviceEnvironments`).
 * @throws {PortInUseError} when another process holds one of the ports; nothing is started.
 * @throws {Error} naming the service when one exits or is not ready in time; the others are stopped.
 */
export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const env = { ...process.env, ...options.env };
  const redisUrl = redisUrlFromEnv(env);
  const replicaPorts =
    redisUrl === undefined ? undefined : (options.replicaPorts ?? replicaPortsFromEnv(options.ports, env));
  const environments = serviceEnvironments(options.ports, env, replicaPorts);
  await assertPortsFree(options.ports, replicaPorts);
  const log =
    options.log ??
    ((service: InstanceName, line: string): void => {
      console.log(`[${service}] ${line}`);
    });
  const instances: { name: InstanceName; service: ServiceName; replica: 1 | 2; url: string }[] = SERVICES.map(
    (service) => ({ name: service, service, replica: 1 as const, url: serviceUrl(options.ports, service) }),
  );
  if (replicaPorts !== undefined) {
    for (const backend of BACKENDS) {
      const url = `http://127.0.0.1:${String(replicaPorts[backend])}`;
      // Right after the first replica: start order is authorization server, backends, gateway.
      const at = instances.findIndex((instance) => instance.name === backend) + 1;
      instances.splice(at, 0, { name: replicaName(backend), service: backend, replica: 2, url });
    }
  }
  const children = new Map<InstanceName, Child>();
  let reportExit: (exit: ServiceExit) => void = () => undefined;
  const unexpectedExit = new Promise<ServiceExit>((resolve) => {
    reportExit = resolve;
  });
  const stop = async (): Promise<void> => {
    await Promise.all([...children.values()].map(stopChild));
  };
  const launch = async (instance: (typeof instances)[number]): Promise<void> => {
    const { name, service } = instance;
    const child = spawnService(
      name,
      service,
      { ...environments[name], ...options.serviceEnv?.[service] },
      log,
    );
    children.set(name, child);
    void child.exited.then((exit) => {
      if (!child.stopping) reportExit(exit);
    });
    await waitReady(child, instance.url, options.healthTimeout ?? 30_000);
  };
  try {
    const [authorizationServer, ...rest] = instances;
    if (authorizationServer !== undefined) await launch(authorizationServer);
    // Backends discover the issuer at start-up; the gateway only needs them at request time.
    await Promise.all(rest.map(launch));
  } catch (error) {
    await stop();
    throw error;
  }
  const pid = (name: InstanceName): number => children.get(name)?.process.pid ?? 0;
  const urlOf = (name: ServiceName): string => serviceUrl(options.ports, name);
  const replicaUrls = (backend: Backend): string[] =>
    instances.filter((instance) => instance.service === backend).map((instance) => instance.url);
  return {
    ports: options.ports,
    urls: {
      'authorization-server': urlOf('authorization-server'),
      gateway: urlOf('gateway'),
      'orders-service': urlOf('orders-service'),
      'fhir-service': urlOf('fhir-service'),
    },
    issuer: String(environments['authorization-server']['AS_ISSUER']),
    pids: {
      'authorization-server': pid('authorization-server'),
      gateway: pid('gateway'),
      'orders-service': pid('orders-service'),
      'fhir-service': pid('fhir-service'),
    },
    redisUrl,
    instances: instances.map((instance) => ({ ...instance, pid: pid(instance.name) })),
    replicas: {
      'orders-service': replicaUrls('orders-service'),
      'fhir-service': replicaUrls('fhir-service'),
    },
    unexpectedExit,
    async stopService(name) {
      const child = children.get(name);
      if (child !== undefined) await stopChild(child);
    },
    async restartService(name) {
      const instance = instances.find((entry) => entry.name === name);
      const child = children.get(name);
      if (instance === undefined) throw new Error(`${name} is not a process of this fleet`);
      if (child !== undefined) await stopChild(child);
      await launch(instance);
    },
    stop,
  };
}
