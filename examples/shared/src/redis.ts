/**
 * Redis for the example services, when `REDIS_URL` is set: one node-redis client per process, for
 * the stores replicas must share (the rate limit here; the introspection cache and the DPoP replay
 * store through `@bearer-guard/redis` in the services).
 */
import { redisReplayStore, type RedisReplayStore } from '@bearer-guard/redis';
import { RedisStore } from 'rate-limit-redis';
import { createClient } from 'redis';

/** The deadline of every Redis command and of the connection, in ms. */
export const REDIS_TIMEOUT_MS = 1000;

/** Where the fleet's keys live: `<prefix><store>:<service>:…`, apart from anything else in that Redis. */
export const REDIS_KEY_PREFIX = 'bearer-guard-fleet:';

function newClient(url: string) {
  return createClient({
    url,
    socket: {
      connectTimeout: REDIS_TIMEOUT_MS,
      reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 2000),
    },
    // Every command has a deadline: a Redis that stops answering fails the command, not the process.
    commandOptions: { timeout: REDIS_TIMEOUT_MS },
  });
}

/** A connected node-redis client (see {@link connectRedis}). */
export type RedisClient = ReturnType<typeof newClient>;

/**
 * Connect to `url`. Rejects when Redis cannot be reached within {@link REDIS_TIMEOUT_MS}: a replica
 * that cannot share its stores must not start (it would count rate limits and remember DPoP proofs
 * alone). The message does not repeat the URL, which may hold a password.
 */
export async function connectRedis(url: string): Promise<RedisClient> {
  const client = newClient(url);
  let failed: (error: unknown) => void = () => undefined;
  const connectionFailed = new Promise<never>((_resolve, reject) => {
    failed = reject;
  });
  // node-redis reports connection errors as events (it reconnects by itself after start-up);
  // without a listener an 'error' event would end the process.
  client.on('error', (error: unknown) => {
    failed(error);
  });
  try {
    await Promise.race([client.connect(), connectionFailed]);
  } catch (error) {
    client.destroy();
    throw new Error(
      `cannot reach Redis at REDIS_URL: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  return client;
}

/** Close `client`, or drop its connection when it cannot close cleanly. */
export async function closeRedis(client: RedisClient | undefined): Promise<void> {
  if (client === undefined) return;
  await client.close().catch(() => {
    client.destroy();
  });
}

/**
 * express-rate-limit's store on Redis (rate-limit-redis): every replica of `service` counts in the
 * same keys, so a client gets its limit once however the load balancer spreads its requests.
 */
export function redisRateLimitStore(client: RedisClient, service: string): RedisStore {
  return new RedisStore({
    prefix: `${REDIS_KEY_PREFIX}rate-limit:${service}:`,
    sendCommand: (...args: string[]) => client.sendCommand(args),
  });
}

/**
 * The DPoP replay store of `service` on Redis (`@bearer-guard/redis`): every replica records the
 * proofs it accepts in the same keys, atomically, so a proof is accepted once across them all. When
 * Redis fails, a request with a proof is refused (503) rather than accepted unrecorded.
 */
export function sharedReplayStore(client: RedisClient, service: string): RedisReplayStore {
  return redisReplayStore({ client, keyPrefix: `${REDIS_KEY_PREFIX}dpop-replay:${service}:` });
}
