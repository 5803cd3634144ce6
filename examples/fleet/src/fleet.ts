import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import {
  REPO_ROOT,
  SERVICES,
  serviceEnvironments,
  serviceUrl,
  type Ports,
  type ServiceName,
} from './config.js';
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

/** A service that exited although nobody asked it to. */
export interface ServiceExit {
  service: InstanceName;
  code: number | null;
  signal: NodeJS.Signals | null;
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

/** What a service sends its launcher once it listens (see examples/shared/src/launcher.ts). */
interface ListeningMessage {
  type: 'listening';
  url: string;
}

const isListening = (message: unknown): message is ListeningMessage =>
  typeof message === 'object' &&
  message !== null &&
  (message as { type?: unknown }).type === 'listening' &&
  typeof (message as { url?: unknown }).url === 'string';

export function describeExit({ service, code, signal }: ServiceExit): string {
  return `${service} exited (${signal === null ? `code ${String(code)}` : `signal ${signal}`})`;
}

/** A spawned service: its process, its last stderr line (why it failed, usually) and its exit. */
interface Child {
  readonly name: InstanceName;
  readonly process: ChildProcess;
  lastError: string;
  /** Set before the fleet stops it, so its exit is not reported as unexpected. */
  stopping: boolean;
  readonly exited: Promise<ServiceExit>;
}

function pipeLines(child: Child, log: (service: InstanceName, line: string) => void): void {
  for (const stream of [child.process.stdout, child.process.stderr]) {
    let buffered = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (stream === child.process.stderr && line.trim() !== '') child.lastError = line.trim();
        log(child.name, line);
      }
    });
  }
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Ready means: this child said, over its IPC channel, that it listens at `url`, and `url/health`
 * answers 200. The message is what proves the health answer comes from this child and not from
 * another process holding the port (a second `npm start` used to pass its health checks on the
 * first fleet's services).
 */
async function waitReady(child: Child, url: string, timeout: number): Promise<void> {
  const deadline = Date.now() + timeout;
  const failed = (why: string): Error =>
    new Error(`${why}${child.lastError === '' ? '' : `: ${child.lastError}`}`);
  let timer: NodeJS.Timeout | undefined;
  const listening = new Promise<string>((resolve) => {
    child.process.on('message', (message) => {
      if (isListening(message)) resolve(message.url);
    });
  });
  const reported = await Promise.race([
    listening,
    child.exited.then((exit) => {
      throw failed(`${describeExit(exit)} before it was listening`);
    }),
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        reject(failed(`${child.name} did not report listening on ${url} within ${String(timeout)} ms`));
      }, timeout);
    }),
  ]).finally(() => {
    clearTimeout(timer);
  });
  if (reported !== url) throw new Error(`${child.name} listens on ${reported}, not on ${url}`);
  while (Date.now() < deadline) {
    if (child.process.exitCode !== null || child.process.signalCode !== null) {
      throw failed(`${child.name} exited before it was healthy`);
    }
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      await response.body?.cancel();
      if (response.status === 200) return;
    } catch {
      // not answering yet
    }
    await delay(100);
  }
  throw failed(`${child.name} did not answer ${url}/health within ${String(timeout)} ms`);
}

async function stopChild(child: Child): Promise<void> {
  child.stopping = true;
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  child.process.kill('SIGTERM');
  const timer = setTimeout(() => child.process.kill('SIGKILL'), 5000);
  await child.exited;
  clearTimeout(timer);
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
    const spawned = spawn(process.execPath, [join(REPO_ROOT, 'examples', service, 'dist', 'main.js')], {
      env: { ...environments[name], ...options.serviceEnv?.[service] },
      // The IPC channel carries the service's "listening" message; when it closes (this process
      // gone, even by SIGKILL) the service stops itself. Its own process group: a Ctrl-C in the
      // terminal reaches only this launcher, which then stops the services in order.
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      detached: true,
    });
    const child: Child = {
      name,
      process: spawned,
      lastError: '',
      stopping: false,
      exited: new Promise((resolve) => {
        spawned.on('exit', (code, signal) => {
          resolve({ service: name, code, signal });
        });
      }),
    };
    spawned.on('error', (error) => {
      child.lastError = error.message;
    });
    children.set(name, child);
    void child.exited.then((exit) => {
      if (!child.stopping) reportExit(exit);
    });
    pipeLines(child, log);
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
