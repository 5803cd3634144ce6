import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { REPO_ROOT, SERVICES, serviceEnvironments, type Ports, type ServiceName } from './config.js';

export {
  AUDIENCES,
  DEFAULT_PORTS,
  DEV_SECRETS,
  SERVICES,
  portsFromEnv,
  serviceEnvironments,
} from './config.js';
export type { Ports, ServiceName } from './config.js';

export interface FleetOptions {
  ports: Ports;
  /** Extra environment for every service (e.g. a wrong secret, to test degradation). */
  env?: NodeJS.ProcessEnv;
  /** Per-service environment overrides. */
  serviceEnv?: Partial<Record<ServiceName, NodeJS.ProcessEnv>>;
  /** Where service output goes; defaults to this process's stdout, prefixed. */
  log?: (service: ServiceName, line: string) => void;
  /** Deadline for each service to become healthy, in ms. Defaults to 30 000. */
  healthTimeout?: number;
}

export interface Fleet {
  readonly ports: Ports;
  readonly urls: Record<ServiceName, string>;
  readonly issuer: string;
  /** Stop one service (e.g. the authorization server, to see cached validation keep working). */
  stopService(name: ServiceName): Promise<void>;
  stop(): Promise<void>;
}

/** A free port on 127.0.0.1 (bound, read and released: for tests that need ports before start). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  server.close();
  await once(server, 'close');
  return port;
}

export async function freePorts(): Promise<Ports> {
  return {
    'authorization-server': await freePort(),
    gateway: await freePort(),
    'orders-service': await freePort(),
    'fhir-service': await freePort(),
  };
}

/** Poll `GET <url>/health` until it answers 200, the process exits, or the deadline passes. */
async function waitHealthy(
  name: ServiceName,
  url: string,
  child: ChildProcess,
  timeout: number,
): Promise<void> {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`${name} exited with code ${String(child.exitCode)} before it was healthy`);
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      await response.body?.cancel();
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${name} did not answer ${url}/health within ${String(timeout)} ms`);
}

function pipeLines(
  child: ChildProcess,
  name: ServiceName,
  log: (service: ServiceName, line: string) => void,
): void {
  for (const stream of [child.stdout, child.stderr]) {
    let buffered = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) log(name, line);
    });
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/**
 * Start the four services as child processes (`node examples/<name>/dist/main.js`, the same
 * command their containers run), the authorization server first, and wait until each answers
 * `/health`. Services must be built (`npm run build`).
 */
export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const environments = serviceEnvironments(options.ports, { ...process.env, ...options.env });
  const log =
    options.log ??
    ((service: ServiceName, line: string): void => {
      console.log(`[${service}] ${line}`);
    });
  const children = new Map<ServiceName, ChildProcess>();
  const url = (name: ServiceName): string => `http://127.0.0.1:${String(options.ports[name])}`;
  const stop = async (): Promise<void> => {
    await Promise.all([...children.values()].map(stopChild));
  };
  const launch = async (name: ServiceName): Promise<void> => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'examples', name, 'dist', 'main.js')], {
      env: { ...process.env, ...options.env, ...environments[name], ...options.serviceEnv?.[name] },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.set(name, child);
    pipeLines(child, name, log);
    await waitHealthy(name, url(name), child, options.healthTimeout ?? 30_000);
  };
  try {
    const [authorizationServer, ...rest] = SERVICES;
    await launch(authorizationServer);
    // Backends discover the issuer at start-up; the gateway only needs them at request time.
    await Promise.all(rest.map(launch));
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    ports: options.ports,
    urls: {
      'authorization-server': url('authorization-server'),
      gateway: url('gateway'),
      'orders-service': url('orders-service'),
      'fhir-service': url('fhir-service'),
    },
    issuer: url('authorization-server'),
    async stopService(name) {
      const child = children.get(name);
      if (child !== undefined) await stopChild(child);
    },
    stop,
  };
}
