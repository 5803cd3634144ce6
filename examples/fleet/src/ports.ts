import { once } from 'node:events';
import { createServer } from 'node:net';
import { DEFAULT_PORTS, FLEET_HOST, SERVICES, type Ports } from './config.js';
import { BACKENDS, REPLICA_PORTS, replicaName, type ReplicaPorts } from './replicas.js';

/** A free port on 127.0.0.1 (bound, read and released: for tests that need ports before start). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, FLEET_HOST);
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

/** Free ports for the second replicas (with `REDIS_URL`). */
export async function freeReplicaPorts(): Promise<ReplicaPorts> {
  return { 'orders-service': await freePort(), 'fhir-service': await freePort() };
}

/** A port of the fleet that something else holds. */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
  readonly code = 'ERR_FLEET_PORT_IN_USE';
  constructor(
    readonly port: number,
    readonly variable: string,
    service: string,
    cause: unknown,
  ) {
    super(
      `port ${String(port)} (${variable}, the ${service}) is already in use on ${FLEET_HOST}: is another fleet running? Stop it, or set ${variable} to a free port.`,
      { cause },
    );
  }
}

async function assertFree(port: number): Promise<unknown> {
  const server = createServer();
  server.listen({ port, host: FLEET_HOST, exclusive: true });
  try {
    // `once` rejects with the 'error' event's Error (EADDRINUSE, EACCES, …).
    await once(server, 'listening');
  } catch (error) {
    return error;
  }
  server.close();
  await once(server, 'close');
  return undefined;
}

/**
 * Checks, before any service starts, that no other process holds a port of the fleet (a second
 * `npm start`, say), so the failure names the port rather than four services logging EADDRINUSE.
 * A port taken between this check and a service's `listen` still fails: that service exits, and
 * the fleet stops (see `startFleet`).
 *
 * @throws {PortInUseError} for the first port that cannot be bound.
 */
export async function assertPortsFree(ports: Ports, replicas?: ReplicaPorts): Promise<void> {
  for (const name of SERVICES) {
    const error = await assertFree(ports[name]);
    if (error !== undefined) throw new PortInUseError(ports[name], DEFAULT_PORTS[name].variable, name, error);
  }
  for (const backend of replicas === undefined ? [] : BACKENDS) {
    const port = replicas?.[backend] ?? 0;
    const error = await assertFree(port);
    if (error !== undefined) {
      throw new PortInUseError(port, REPLICA_PORTS[backend].variable, replicaName(backend), error);
    }
  }
}
